import type { LocalCredentials } from '../../../protocols/auth/index.ts'
import type { KeyHandle } from '../../identity/key-store.ts'
import type { Certificate } from '../../pki/certificate.ts'

/** An identity key and the certificate chain (leaf first, DER) that certifies it. */
export interface IdentityPair {
  /** The key's label in the node's key store. */
  label: string
  key: KeyHandle
  chain: Uint8Array[]
  leaf: Certificate
}

/** A key/certificate pair rotated out, kept until its certificate expires. */
export interface RetiredPair {
  label: string
  serialHex: string
  notAfter: number
  /** Absent after a restart: only the label is known then (the key stays in its store until deleted). */
  key?: KeyHandle
  chain?: Uint8Array[]
}

/**
 * The node's identity credentials: the current pair, which every new auth handshake, re-auth,
 * API session and gossip publication reads at once, and the pairs rotated out, held until their
 * certificates expire (sessions and attestation may still rest on them until the peers'
 * re-auths land; then the key is deleted from the key store).
 */
export class CredentialSet {
  #current: IdentityPair
  #auth: LocalCredentials
  readonly #retired: RetiredPair[]

  constructor (current: IdentityPair, retired: RetiredPair[] = []) {
    this.#current = current
    this.#auth = toAuth(current)
    this.#retired = [...retired]
  }

  current (): IdentityPair {
    return this.#current
  }

  /** What the auth protocol presents: read once per handshake, so a rotation counts at once. */
  credentials = (): LocalCredentials => this.#auth

  /** The chain as gossip publishes it (leaf first). */
  chain = (): Uint8Array[] => this.#current.chain

  /** Makes `next` current; the pair it replaces is retired until its certificate expires. */
  install (next: IdentityPair): RetiredPair {
    const old = this.#current
    const retired: RetiredPair = { label: old.label, serialHex: old.leaf.serialHex, notAfter: old.leaf.notAfter, key: old.key, chain: old.chain }
    if (old.label !== next.label) { this.#retired.push(retired) }
    this.#current = next
    this.#auth = toAuth(next)
    return retired
  }

  retired (): readonly RetiredPair[] {
    return this.#retired
  }

  /** Forgets a retired pair (its key was deleted). */
  dropRetired (label: string): void {
    const i = this.#retired.findIndex(r => r.label === label)
    if (i >= 0) { this.#retired.splice(i, 1) }
  }
}

function toAuth (p: IdentityPair): LocalCredentials {
  return { chain: p.chain, signer: { algorithm: p.key.algorithm, spki: p.key.publicKeySpki, sign: async (data) => p.key.sign(data) } }
}
