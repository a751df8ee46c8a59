import { AttestationError } from './errors.ts'
import { TpmReader } from './tpm-reader.ts'

/** TPM_GENERATED_VALUE: a restricted key signs only data starting with it that the TPM made. */
export const TPM_GENERATED_VALUE = 0xff544347
/** TPM_ST_ATTEST_QUOTE. */
export const TPM_ST_ATTEST_QUOTE = 0x8018

/** A TPMS_ATTEST is ~150 bytes for a quote; 1 KiB bounds every legitimate one. */
export const MAX_ATTEST_BYTES = 1024
/** sizeof(TPMU_NAME): a 2-byte algorithm id and a digest of at most 64 bytes. */
const MAX_NAME = 66
/** sizeof(TPMU_HA): the largest digest (SHA-512). */
const MAX_DIGEST = 64
/** TPML_PCR_SELECTION holds at most one entry per bank (HASH_COUNT); 8 is generous. */
const MAX_PCR_SELECTIONS = 8
/** PCR_SELECT_MAX: 24 PCRs in 3 bytes on PC-client TPMs; 8 bytes (64 PCRs) is the bound. */
const MAX_SIZEOF_SELECT = 8

export interface PcrSelection {
  /** TPM_ALG_ID of the bank. */
  hash: number
  /** PCR indexes selected, ascending (bit i of byte j selects PCR 8j + i). */
  indexes: number[]
}

/** A parsed TPMS_ATTEST of type TPM_ST_ATTEST_QUOTE (TPM 2.0 Part 2 §10.12.12). */
export interface QuoteAttestation {
  /** Qualified Name of the signing key (the AK), TPM2B_NAME contents. */
  qualifiedSigner: Uint8Array
  /** The caller's qualifying data: SHA-256(nonce || identity SPKI) in the mesh. */
  extraData: Uint8Array
  clock: bigint
  resetCount: number
  restartCount: number
  safe: boolean
  firmwareVersion: bigint
  pcrSelect: PcrSelection[]
  pcrDigest: Uint8Array
}

/**
 * Parses TPMS_ATTEST strictly: magic first (BAD_MAGIC), then type (BAD_TYPE, anything but a
 * quote), then every field with a bound; truncation and trailing bytes are MALFORMED_EVIDENCE.
 */
export function parseTpmsAttest (bytes: Uint8Array): QuoteAttestation {
  if (bytes.length > MAX_ATTEST_BYTES) {
    throw new AttestationError('MALFORMED_EVIDENCE', `TPMS_ATTEST of ${bytes.length} bytes exceeds ${MAX_ATTEST_BYTES}`)
  }
  const r = new TpmReader(bytes, 'TPMS_ATTEST')
  const magic = r.u32('magic')
  if (magic !== TPM_GENERATED_VALUE) {
    throw new AttestationError('BAD_MAGIC', `TPMS_ATTEST magic is 0x${magic.toString(16)}, not 0xff544347`)
  }
  const type = r.u16('type')
  if (type !== TPM_ST_ATTEST_QUOTE) {
    throw new AttestationError('BAD_TYPE', `TPMS_ATTEST type is 0x${type.toString(16)}, not TPM_ST_ATTEST_QUOTE (0x8018)`)
  }
  const qualifiedSigner = r.tpm2b('qualifiedSigner', MAX_NAME)
  const extraData = r.tpm2b('extraData', MAX_DIGEST)
  const clock = r.u64('clockInfo.clock')
  const resetCount = r.u32('clockInfo.resetCount')
  const restartCount = r.u32('clockInfo.restartCount')
  const safe = r.u8('clockInfo.safe')
  if (safe > 1) { throw new AttestationError('MALFORMED_EVIDENCE', `clockInfo.safe is ${safe}, not a TPMI_YES_NO`) }
  const firmwareVersion = r.u64('firmwareVersion')
  const pcrSelect = readPcrSelection(r)
  const pcrDigest = r.tpm2b('pcrDigest', MAX_DIGEST)
  r.end()
  return { qualifiedSigner, extraData, clock, resetCount, restartCount, safe: safe === 1, firmwareVersion, pcrSelect, pcrDigest }
}

function readPcrSelection (r: TpmReader): PcrSelection[] {
  const count = r.u32('pcrSelect.count')
  if (count > MAX_PCR_SELECTIONS) {
    throw new AttestationError('MALFORMED_EVIDENCE', `pcrSelect has ${count} banks, more than ${MAX_PCR_SELECTIONS}`)
  }
  const out: PcrSelection[] = []
  for (let i = 0; i < count; i++) {
    const hash = r.u16(`pcrSelect[${i}].hash`)
    const size = r.u8(`pcrSelect[${i}].sizeofSelect`)
    if (size > MAX_SIZEOF_SELECT) {
      throw new AttestationError('MALFORMED_EVIDENCE', `pcrSelect[${i}] has ${size} select bytes, more than ${MAX_SIZEOF_SELECT}`)
    }
    const bits = r.bytes(size, `pcrSelect[${i}].pcrSelect`)
    const indexes: number[] = []
    for (let byte = 0; byte < size; byte++) {
      for (let bit = 0; bit < 8; bit++) {
        if ((bits[byte] & (1 << bit)) !== 0) { indexes.push(byte * 8 + bit) }
      }
    }
    out.push({ hash, indexes })
  }
  return out
}
