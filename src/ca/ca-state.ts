import type { CaConfig } from './config.ts'
import type { KeyHandle } from '../identity/key-store.ts'
import type { Certificate } from '../pki/certificate.ts'
import type { CaStore } from '../store/ca-store.ts'
import type { MeshStore } from '../store/mesh-store.ts'

/** Everything an open CA holds: settings, certificates, keys and its store. */
export interface CaState {
  dir: string
  config: CaConfig
  root: Certificate
  /** The certificate whose key signs leaves and the issuing CRL (the root when there is no intermediate). */
  issuing: Certificate
  rootPem: string
  /** Issuing chain PEM, issuer first, root last. */
  chainPem: string
  rootKey: KeyHandle
  issuingKey: KeyHandle
  meshStore: MeshStore
  store: CaStore
  /** Releases the key store (a PKCS#11 session); the keys stop working after it. */
  closeKeys(): Promise<void>
}
