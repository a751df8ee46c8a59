import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes, scrypt, timingSafeEqual } from 'node:crypto'
import { KeyStoreError } from './errors.ts'
import type { KeyAlgorithm } from './key-store.ts'

/*
 * The encrypted key file format (version 1), all integers single bytes:
 *
 *   0  magic "DADMKEY" + version 0x01      (8)
 *   8  algorithm: 1 P-256, 2 Ed25519       (1)
 *   9  flags: bit 0 = exportable           (1)
 *  10  scrypt log2(N), r, p                (3)
 *  13  salt                                (16)
 *  29  AES-GCM nonce                       (12)
 *  41  passphrase verifier                 (16)
 *  57  ciphertext of the PKCS#8 DER        (n)
 *  ..  GCM tag                             (16)
 *  ..  SHA-256 of everything before it     (32)
 *
 * Bytes 0..57 are the GCM additional data, so the algorithm, the export flag and the KDF cost
 * cannot be changed without the passphrase. scrypt yields 64 bytes: the AES-256 key and a MAC key
 * for the verifier, which is what tells a wrong passphrase (WRONG_PASSPHRASE) from a damaged file.
 * The unkeyed SHA-256 trailer catches accidental damage and truncation before the costly KDF runs;
 * a deliberate edit that also fixes the trailer still fails GCM (TAMPERED_KEY_FILE) or, if it hits
 * the header, the verifier (reported as WRONG_PASSPHRASE): either way the key is refused.
 */

const MAGIC = Buffer.from('DADMKEY\x01', 'latin1')
const HEADER_LEN = 57
const TAG_LEN = 16
const TRAILER_LEN = 32
/** Far above a PKCS#8 P-256 or Ed25519 key (under 200 bytes); bounds what we read and hash. */
export const MAX_KEY_FILE_BYTES = 4096

/**
 * scrypt cost. Default N = 2^17, r = 8, p = 1: OWASP's 2023 recommendation for scrypt; 128 MiB and
 * about 0.36 s here, paid once per start, which makes offline guessing of a stolen file costly.
 * 2^15 (32 MiB, about 0.09 s, the RFC 7914 interactive figure) is the floor we write or accept;
 * 2^18 is the ceiling we accept, so a crafted file cannot make us allocate gigabytes.
 */
export const DEFAULT_SCRYPT_LOG_N = 17
export const MIN_SCRYPT_LOG_N = 15
export const MAX_SCRYPT_LOG_N = 18
const SCRYPT_R = 8
const SCRYPT_P = 1

const ALG_CODES: Record<KeyAlgorithm, number> = { 'P-256': 1, Ed25519: 2 }

export interface KeyFileContents {
  algorithm: KeyAlgorithm
  exportable: boolean
  /** PKCS#8 DER; the caller should zero it once the key is imported. */
  pkcs8: Buffer
}

export interface KeyFileOptions {
  /** scrypt log2(N), between MIN_SCRYPT_LOG_N and MAX_SCRYPT_LOG_N. @default DEFAULT_SCRYPT_LOG_N */
  scryptLogN?: number
}

async function deriveKeys (passphrase: string, salt: Uint8Array, logN: number, r: number, p: number): Promise<Buffer> {
  const N = 2 ** logN
  return new Promise((resolve, reject) => {
    // NFKC so the same passphrase typed on different keyboards or systems gives the same key.
    scrypt(passphrase.normalize('NFKC'), salt, 64, { N, r, p, maxmem: 256 * N * r }, (err, key) => {
      if (err != null) { reject(err) } else { resolve(key) }
    })
  })
}

function verifier (macKey: Buffer, header: Uint8Array): Buffer {
  return createHmac('sha256', macKey).update('dadm-mesh key file verifier\x00').update(header).digest().subarray(0, 16)
}

/** Encrypts a PKCS#8 key into the key file format. */
export async function encodeKeyFile (contents: KeyFileContents, passphrase: string, options: KeyFileOptions = {}): Promise<Buffer> {
  const logN = options.scryptLogN ?? DEFAULT_SCRYPT_LOG_N
  if (!Number.isInteger(logN) || logN < MIN_SCRYPT_LOG_N || logN > MAX_SCRYPT_LOG_N) {
    throw new KeyStoreError('UNSUPPORTED_KEY_FILE', `scrypt log2(N) must be ${MIN_SCRYPT_LOG_N}..${MAX_SCRYPT_LOG_N}`)
  }
  if (passphrase.length === 0) {
    throw new KeyStoreError('NO_PASSPHRASE', 'an empty passphrase cannot protect a key')
  }
  const header = Buffer.alloc(HEADER_LEN)
  MAGIC.copy(header, 0)
  header[8] = ALG_CODES[contents.algorithm]
  header[9] = contents.exportable ? 1 : 0
  header[10] = logN
  header[11] = SCRYPT_R
  header[12] = SCRYPT_P
  const salt = randomBytes(16)
  const nonce = randomBytes(12)
  salt.copy(header, 13)
  nonce.copy(header, 29)
  const keys = await deriveKeys(passphrase, salt, logN, SCRYPT_R, SCRYPT_P)
  try {
    verifier(keys.subarray(32), header.subarray(0, 41)).copy(header, 41)
    const cipher = createCipheriv('aes-256-gcm', keys.subarray(0, 32), nonce)
    cipher.setAAD(header)
    const body = Buffer.concat([header, cipher.update(contents.pkcs8), cipher.final(), cipher.getAuthTag()])
    return Buffer.concat([body, createHash('sha256').update(body).digest()])
  } finally {
    keys.fill(0)
  }
}

/** Decrypts a key file; refuses with TAMPERED_KEY_FILE, UNSUPPORTED_KEY_FILE or WRONG_PASSPHRASE. */
export async function decodeKeyFile (file: Uint8Array, passphrase: string): Promise<KeyFileContents> {
  const buf = Buffer.from(file.buffer, file.byteOffset, file.byteLength)
  if (buf.length < HEADER_LEN + 1 + TAG_LEN + TRAILER_LEN || buf.length > MAX_KEY_FILE_BYTES) {
    throw new KeyStoreError('TAMPERED_KEY_FILE', `key file has an impossible length ${buf.length} (truncated?)`)
  }
  const body = buf.subarray(0, buf.length - TRAILER_LEN)
  if (!timingSafeEqual(createHash('sha256').update(body).digest(), buf.subarray(buf.length - TRAILER_LEN))) {
    throw new KeyStoreError('TAMPERED_KEY_FILE', 'key file checksum does not match (damaged or edited)')
  }
  const header = body.subarray(0, HEADER_LEN)
  if (!header.subarray(0, 8).equals(MAGIC)) {
    throw new KeyStoreError('UNSUPPORTED_KEY_FILE', 'not a dadm-mesh key file of version 1')
  }
  const algorithm = (Object.keys(ALG_CODES) as KeyAlgorithm[]).find(a => ALG_CODES[a] === header[8])
  const [flags, logN, r, p] = [header[9], header[10], header[11], header[12]]
  if (algorithm == null || flags > 1 || logN < MIN_SCRYPT_LOG_N || logN > MAX_SCRYPT_LOG_N || r !== SCRYPT_R || p !== SCRYPT_P) {
    throw new KeyStoreError('UNSUPPORTED_KEY_FILE', 'key file names an algorithm or KDF cost we do not accept')
  }
  if (passphrase.length === 0) {
    throw new KeyStoreError('NO_PASSPHRASE', 'no passphrase to open the key file')
  }
  const keys = await deriveKeys(passphrase, header.subarray(13, 29), logN, r, p)
  try {
    if (!timingSafeEqual(verifier(keys.subarray(32), header.subarray(0, 41)), header.subarray(41, 57))) {
      throw new KeyStoreError('WRONG_PASSPHRASE', 'wrong passphrase for the key file')
    }
    const decipher = createDecipheriv('aes-256-gcm', keys.subarray(0, 32), header.subarray(29, 41))
    decipher.setAAD(header)
    decipher.setAuthTag(body.subarray(body.length - TAG_LEN))
    let pkcs8: Buffer
    try {
      pkcs8 = Buffer.concat([decipher.update(body.subarray(HEADER_LEN, body.length - TAG_LEN)), decipher.final()])
    } catch {
      throw new KeyStoreError('TAMPERED_KEY_FILE', 'key file failed authentication (edited)')
    }
    return { algorithm, exportable: flags === 1, pkcs8 }
  } finally {
    keys.fill(0)
  }
}

/**
 * The scrypt cost (log2 N) a key file was written with, read from its header without the
 * passphrase; undefined for anything that is not a version-1 key file. Lets a key made for the
 * same owner (the CA's own mesh node) take the cost the operator chose for the CA's keys.
 */
export function keyFileScryptLogN (file: Uint8Array): number | undefined {
  const buf = Buffer.from(file.buffer, file.byteOffset, file.byteLength)
  if (buf.length < HEADER_LEN || !buf.subarray(0, 8).equals(MAGIC)) { return undefined }
  const logN = buf[10]
  return logN >= MIN_SCRYPT_LOG_N && logN <= MAX_SCRYPT_LOG_N ? logN : undefined
}
