/**
 * The one key store interface. The software backend (encrypted files), PKCS#11
 * (node-webcrypto-p11) and TPM backends all implement it, so callers (the CA, the CLI, the node)
 * never learn where a key lives. A private key leaves a backend only when it was created
 * `exportable` (the libp2p host key, which libp2p must hold in memory); identity and CA keys never.
 */

/** Key types the mesh uses for identities and CAs. */
export type KeyAlgorithm = 'P-256' | 'Ed25519'

export const KEY_ALGORITHMS: readonly KeyAlgorithm[] = ['P-256', 'Ed25519']

/** True when `s` is a key algorithm name the key stores support. */
export function isKeyAlgorithm (s: string): s is KeyAlgorithm {
  return (KEY_ALGORITHMS as readonly string[]).includes(s)
}

/**
 * What `@peculiar/x509` generators need to sign a certificate, CSR or CRL with this key: the
 * private key as a CryptoKey of `crypto` (a software WebCrypto or a PKCS#11 one), the public key,
 * and the algorithm to name in the signature.
 */
export interface X509Signer {
  privateKey: CryptoKey
  publicKey: CryptoKey
  crypto: Crypto
  signingAlgorithm: Algorithm | EcdsaParams
}

/** Where a key lives: an encrypted file, a PKCS#11 token (SoftHSM2, an HSM), or a TPM. */
export type KeyBackend = 'software' | 'pkcs11' | 'tpm'

/** A key held by a backend. */
export interface KeyHandle {
  readonly label: string
  /** Where the key lives (for logs and `--key-store auto` reports); absent means software. */
  readonly backend?: KeyBackend
  readonly algorithm: KeyAlgorithm
  /** SubjectPublicKeyInfo DER of the public key. */
  readonly publicKeySpki: Uint8Array
  /** The public key as a WebCrypto key of the backend's provider. */
  readonly publicKey: CryptoKey
  /** True when `exportPrivateKey` may be called. */
  readonly exportable: boolean
  /**
   * Signs `data` and returns the signature in the form X.509 carries it: DER Ecdsa-Sig-Value
   * for ECDSA with SHA-256, the raw 64 bytes for Ed25519.
   */
  sign(data: Uint8Array): Promise<Uint8Array>
  /** The signer for `@peculiar/x509` generators. */
  signer(): X509Signer
  /** PKCS#8 DER of the private key; throws KeyStoreError NOT_EXPORTABLE unless created exportable. */
  exportPrivateKey(): Promise<Uint8Array>
}

export interface GenerateOptions {
  /** Allow `exportPrivateKey` (only for keys another library must hold, such as the libp2p host key). @default false */
  exportable?: boolean
}

/** A backend that holds keys under labels. */
export interface KeyStore {
  /** Creates a new key under `label`; refuses (KEY_EXISTS) if the label is taken. */
  generate(label: string, algorithm: KeyAlgorithm, options?: GenerateOptions): Promise<KeyHandle>
  /** Loads the key under `label` (KEY_NOT_FOUND if none). */
  load(label: string): Promise<KeyHandle>
  has(label: string): Promise<boolean>
  /** Destroys the key under `label`. */
  delete(label: string): Promise<void>
  /** Releases what the backend holds open (a PKCS#11 session); handles stop working after it. */
  close?(): Promise<void>
}

/** Labels are file names in the software store and object labels in PKCS#11: keep them plain. */
export const LABEL_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
