import { EncodingError } from './encoding-errors.ts'

/** One PEM block: its label (e.g. `CERTIFICATE`) and the DER bytes it carries. */
export interface PemBlock {
  label: string
  der: Uint8Array
}

/** Largest PEM text we read: far above any certificate chain or CRL the mesh hands around. */
export const MAX_PEM_BYTES = 4 * 1024 * 1024

const BEGIN = /^-----BEGIN ([A-Z0-9 ]+)-----$/
const END = /^-----END ([A-Z0-9 ]+)-----$/
const BASE64_LINE = /^[A-Za-z0-9+/]*={0,2}$/

/**
 * Parses text that must consist only of PEM blocks (and blank space between them).
 * Anything else around or between the blocks is an error, so that trailing garbage, binary DER
 * handed in as PEM and truncated blocks are refused rather than silently skipped.
 */
export function parsePem (input: string | Uint8Array): PemBlock[] {
  const text = typeof input === 'string' ? input : decodeText(input)
  if (typeof input === 'string' && /[^\t\n\r\x20-\x7e]/.test(input)) {
    throw new EncodingError('DER_WHERE_PEM_EXPECTED', 'binary data where PEM text was expected')
  }
  if (text.length > MAX_PEM_BYTES) {
    throw new EncodingError('INPUT_TOO_LARGE', `PEM input is larger than ${MAX_PEM_BYTES} bytes`)
  }
  const lines = text.split(/\r?\n/)
  const blocks: PemBlock[] = []
  let label: string | undefined
  let body: string[] = []
  for (const raw of lines) {
    const line = raw.trim()
    if (label === undefined) {
      if (line === '') { continue }
      const m = BEGIN.exec(line)
      if (m == null) {
        throw new EncodingError('MALFORMED_PEM', 'unexpected text outside a PEM block')
      }
      label = m[1]
      body = []
      continue
    }
    const end = END.exec(line)
    if (end != null) {
      if (end[1] !== label) {
        throw new EncodingError('MALFORMED_PEM', `PEM END label ${end[1]} does not match BEGIN ${label}`)
      }
      blocks.push({ label, der: decodeBase64Strict(body.join('')) })
      label = undefined
      continue
    }
    if (line.includes(':')) {
      // RFC 1421 headers (Proc-Type, DEK-Info): encrypted legacy PEM, which we never accept.
      throw new EncodingError('MALFORMED_PEM', 'PEM headers are not supported')
    }
    if (!BASE64_LINE.test(line)) {
      throw new EncodingError('MALFORMED_PEM', 'PEM body is not base64')
    }
    body.push(line)
  }
  if (label !== undefined) {
    throw new EncodingError('MALFORMED_PEM', `PEM block ${label} has no END line (truncated?)`)
  }
  if (blocks.length === 0) {
    throw new EncodingError('MALFORMED_PEM', 'no PEM block found')
  }
  return blocks
}

/** Parses PEM text that must hold blocks of exactly one label; returns their DER in order. */
export function pemToDerAll (input: string | Uint8Array, label: string): Uint8Array[] {
  const blocks = parsePem(input)
  for (const b of blocks) {
    if (b.label !== label) {
      throw new EncodingError('PEM_LABEL_MISMATCH', `expected PEM ${label}, found ${b.label}`)
    }
  }
  return blocks.map(b => b.der)
}

/** Parses PEM text that must hold exactly one block with the given label. */
export function pemToDer (input: string | Uint8Array, label: string): Uint8Array {
  const all = pemToDerAll(input, label)
  if (all.length !== 1) {
    throw new EncodingError('MALFORMED_PEM', `expected one PEM ${label} block, found ${all.length}`)
  }
  return all[0]
}

/** Encodes DER as PEM with 64-column lines. */
export function derToPem (der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64')
  const lines = b64.match(/.{1,64}/g) ?? []
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`
}

function decodeText (bytes: Uint8Array): string {
  // DER starts with a SEQUENCE tag (0x30); any byte outside printable ASCII and whitespace means
  // binary input where text was expected.
  for (const b of bytes) {
    if (b !== 0x09 && b !== 0x0a && b !== 0x0d && (b < 0x20 || b > 0x7e)) {
      throw new EncodingError('DER_WHERE_PEM_EXPECTED', 'binary data where PEM text was expected')
    }
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')
}

function decodeBase64Strict (b64: string): Uint8Array {
  if (b64.length === 0 || b64.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) {
    throw new EncodingError('MALFORMED_PEM', 'PEM body is not complete base64 (truncated?)')
  }
  const out = Buffer.from(b64, 'base64')
  // Round-trip to refuse non-canonical encodings (stray bits in the final quantum).
  if (out.toString('base64') !== b64) {
    throw new EncodingError('MALFORMED_PEM', 'PEM body is not canonical base64')
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength)
}
