import { createCipheriv, pbkdf2, randomBytes } from 'node:crypto'
import { encodeOid, encodeTlv, TAG } from '../util/der.ts'
import { derToPem } from '../util/pem.ts'
import { KeyStoreError } from './errors.ts'

/*
 * Encrypted PKCS#8 (RFC 5958 EncryptedPrivateKeyInfo) under PBES2 (RFC 8018) for key files that
 * other programs must read: the operator's admin key goes to curl `--key/--pass`, openssl and
 * node:tls `passphrase`. Node's `KeyObject.export({ cipher, passphrase })` writes PBES2 too, but
 * with PBKDF2 at OpenSSL's fixed 2048 iterations, which a stolen file survives for seconds; the
 * structure is small and fixed, so it is built here around node:crypto's PBKDF2 and AES.
 *
 * Why PBKDF2 and not scrypt: OpenSSL 3.0 (Debian 12, and the curl linked against it) decrypts
 * PBES2-scrypt with a 32 MiB memory cap it does not let `openssl pkey` or curl raise; scrypt at
 * N = 2^15, r = 8 needs 32 MiB plus 1 KiB per p and is refused ("invalid scrypt parameters"),
 * so only N <= 2^14 would be readable. PBKDF2-HMAC-SHA256 at 600,000 iterations (OWASP's 2023
 * figure for that PRF) is readable by every OpenSSL since 1.0.
 */

/** PBKDF2-HMAC-SHA256 iterations: OWASP Password Storage Cheat Sheet (2023) for SHA-256. */
export const PBKDF2_ITERATIONS = 600_000
/** 128-bit salt, NIST SP 800-132's minimum. */
const SALT_BYTES = 16
/** AES-256 key and CBC IV sizes. */
const AES_KEY_BYTES = 32
const IV_BYTES = 16

const OID = {
  pbes2: '1.2.840.113549.1.5.13',
  pbkdf2: '1.2.840.113549.1.5.12',
  hmacWithSHA256: '1.2.840.113549.2.9',
  aes256Cbc: '2.16.840.1.101.3.4.1.42'
} as const

const seq = (...parts: Uint8Array[]): Uint8Array => encodeTlv(TAG.SEQUENCE, Buffer.concat(parts))
const octets = (b: Uint8Array): Uint8Array => encodeTlv(TAG.OCTET_STRING, b)
const NULL = Uint8Array.of(TAG.NULL, 0)

/** Minimal DER INTEGER of a positive safe integer. */
function integer (n: number): Uint8Array {
  let hex = n.toString(16)
  if (hex.length % 2 === 1) { hex = '0' + hex }
  let bytes = Buffer.from(hex, 'hex')
  if ((bytes[0] & 0x80) !== 0) { bytes = Buffer.concat([Buffer.of(0), bytes]) }
  return encodeTlv(TAG.INTEGER, bytes)
}

async function deriveKey (passphrase: Uint8Array, salt: Uint8Array, iterations: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    pbkdf2(passphrase, salt, iterations, AES_KEY_BYTES, 'sha256', (err, key) => {
      if (err != null) { reject(err) } else { resolve(key) }
    })
  })
}

export interface Pkcs8EncryptOptions {
  /** PBKDF2 iterations; never below PBKDF2_ITERATIONS. @default PBKDF2_ITERATIONS */
  iterations?: number
}

/**
 * Encrypts a PKCS#8 PrivateKeyInfo (DER) into an `ENCRYPTED PRIVATE KEY` PEM: PBES2 with
 * PBKDF2-HMAC-SHA256 and AES-256-CBC. The passphrase is used as its UTF-8 bytes, unnormalised,
 * because that is what curl and openssl feed to PBKDF2.
 */
export async function encryptPkcs8Pem (pkcs8: Uint8Array, passphrase: string, options: Pkcs8EncryptOptions = {}): Promise<string> {
  const iterations = options.iterations ?? PBKDF2_ITERATIONS
  if (!Number.isSafeInteger(iterations) || iterations < PBKDF2_ITERATIONS) {
    throw new KeyStoreError('UNSUPPORTED_KEY_FILE', `PBKDF2 iterations must be at least ${PBKDF2_ITERATIONS}`)
  }
  if (passphrase.length === 0) {
    throw new KeyStoreError('NO_PASSPHRASE', 'an empty passphrase cannot protect a key')
  }
  const salt = randomBytes(SALT_BYTES)
  const iv = randomBytes(IV_BYTES)
  const pass = Buffer.from(passphrase, 'utf8')
  const key = await deriveKey(pass, salt, iterations)
  let ciphertext: Buffer
  try {
    const cipher = createCipheriv('aes-256-cbc', key, iv)
    ciphertext = Buffer.concat([cipher.update(pkcs8), cipher.final()])
  } finally {
    key.fill(0)
    pass.fill(0)
  }
  // keyLength is left out of PBKDF2-params (it is OPTIONAL and implied by the cipher), as OpenSSL writes it.
  const der = seq(
    seq(
      encodeOid(OID.pbes2),
      seq(
        seq(encodeOid(OID.pbkdf2), seq(octets(salt), integer(iterations), seq(encodeOid(OID.hmacWithSHA256), NULL))),
        seq(encodeOid(OID.aes256Cbc), octets(iv))
      )
    ),
    octets(ciphertext)
  )
  return derToPem(der, 'ENCRYPTED PRIVATE KEY')
}
