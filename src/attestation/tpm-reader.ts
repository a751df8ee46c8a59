import { AttestationError } from './errors.ts'

/**
 * A bounded reader for TPM 2.0 marshaled structures (big-endian, TPM2B = uint16 size + bytes,
 * TPM 2.0 Part 2). Every read checks the remaining length; every TPM2B has a caller-given
 * maximum, so a hostile size field can never make us read past the buffer or allocate much.
 */
export class TpmReader {
  readonly #buf: Uint8Array
  readonly #view: DataView
  readonly #what: string
  #pos = 0

  constructor (buf: Uint8Array, what: string) {
    this.#buf = buf
    this.#view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
    this.#what = what
  }

  get offset (): number { return this.#pos }
  get remaining (): number { return this.#buf.length - this.#pos }

  #need (n: number, field: string): void {
    if (this.remaining < n) {
      throw new AttestationError('MALFORMED_EVIDENCE', `${this.#what}: truncated at ${field} (offset ${this.#pos}, need ${n}, have ${this.remaining})`)
    }
  }

  u8 (field: string): number {
    this.#need(1, field)
    return this.#view.getUint8(this.#pos++)
  }

  u16 (field: string): number {
    this.#need(2, field)
    const v = this.#view.getUint16(this.#pos)
    this.#pos += 2
    return v
  }

  u32 (field: string): number {
    this.#need(4, field)
    const v = this.#view.getUint32(this.#pos)
    this.#pos += 4
    return v
  }

  u64 (field: string): bigint {
    this.#need(8, field)
    const v = this.#view.getBigUint64(this.#pos)
    this.#pos += 8
    return v
  }

  bytes (n: number, field: string): Uint8Array {
    this.#need(n, field)
    const v = this.#buf.subarray(this.#pos, this.#pos + n)
    this.#pos += n
    return v
  }

  /** A TPM2B: uint16 size then that many bytes, refused above `max`. */
  tpm2b (field: string, max: number): Uint8Array {
    const size = this.u16(`${field}.size`)
    if (size > max) {
      throw new AttestationError('MALFORMED_EVIDENCE', `${this.#what}: ${field} is ${size} bytes, more than ${max}`)
    }
    return this.bytes(size, field)
  }

  /** Refuses bytes left over after the structure: one encoding per structure. */
  end (): void {
    if (this.remaining !== 0) {
      throw new AttestationError('MALFORMED_EVIDENCE', `${this.#what}: ${this.remaining} trailing bytes`)
    }
  }
}

/** TPM_ALG_ID values the verifier knows (TPM 2.0 Part 2 §6.3). */
export const TPM_ALG = {
  RSA: 0x0001,
  SHA1: 0x0004,
  AES: 0x0006,
  SHA256: 0x000b,
  SHA384: 0x000c,
  SHA512: 0x000d,
  NULL: 0x0010,
  RSASSA: 0x0014,
  RSAPSS: 0x0016,
  ECDSA: 0x0018,
  ECDAA: 0x001a,
  ECC: 0x0023,
  CFB: 0x0043
} as const

/** Hash algorithms by TPM_ALG_ID, with node:crypto names and digest sizes. */
export const TPM_HASHES: ReadonlyMap<number, { name: PcrBank, size: number }> = new Map([
  [TPM_ALG.SHA1, { name: 'sha1', size: 20 }],
  [TPM_ALG.SHA256, { name: 'sha256', size: 32 }],
  [TPM_ALG.SHA384, { name: 'sha384', size: 48 }],
  [TPM_ALG.SHA512, { name: 'sha512', size: 64 }]
])

/** PCR bank / hash names as evidence and policy spell them (node:crypto names). */
export type PcrBank = 'sha1' | 'sha256' | 'sha384' | 'sha512'

/** The TPM_ALG_ID of a bank name. */
export function hashAlgId (bank: PcrBank): number {
  for (const [id, h] of TPM_HASHES) { if (h.name === bank) { return id } }
  throw new AttestationError('UNSUPPORTED_ALGORITHM', `unknown hash ${String(bank)}`)
}
