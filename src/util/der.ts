import { EncodingError } from './encoding-errors.ts'

/**
 * A strict DER reader. Certificates, CSRs and CRLs reach the mesh from peers and operators, so
 * every parse is bounded: definite minimal lengths only, a nesting limit, and no bytes left over.
 * Nodes are views into the input (no copies), which keeps the hot path cheap.
 */

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  ENUMERATED: 0x0a,
  UTF8_STRING: 0x0c,
  SEQUENCE: 0x30,
  SET: 0x31,
  PRINTABLE_STRING: 0x13,
  T61_STRING: 0x14,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  VISIBLE_STRING: 0x1a,
  UNIVERSAL_STRING: 0x1c,
  BMP_STRING: 0x1e
} as const

/** Default nesting limit: X.509 needs about 10 levels; 32 leaves room and stops deep-nesting attacks. */
export const DEFAULT_MAX_DEPTH = 32

/** Default cap on nodes in one parse, so a flat but huge SEQUENCE cannot eat the CPU. */
export const DEFAULT_MAX_NODES = 200_000

export interface DerNode {
  /** The whole identifier octet for low tags (e.g. 0x30); high-tag-number forms are refused. */
  tag: number
  constructed: boolean
  /** 0 universal, 1 application, 2 context-specific, 3 private */
  tagClass: number
  /** Tag number within its class (e.g. 3 for `[3]`). */
  tagNumber: number
  /** Offset of the identifier octet in `bytes`. */
  start: number
  /** Offset of the first content octet. */
  contentStart: number
  /** Offset just past the last content octet. */
  end: number
  /** The input buffer this node is a view into. */
  bytes: Uint8Array
  /** Children, for constructed nodes. */
  children: DerNode[]
}

export interface DecodeOptions {
  maxDepth?: number
  maxNodes?: number
}

/** Decodes one DER element that must span all of `bytes`. */
export function decodeDer (bytes: Uint8Array, options: DecodeOptions = {}): DerNode {
  const budget = { nodes: options.maxNodes ?? DEFAULT_MAX_NODES }
  const node = readNode(bytes, 0, bytes.length, 0, options.maxDepth ?? DEFAULT_MAX_DEPTH, budget)
  if (node.end !== bytes.length) {
    throw new EncodingError('TRAILING_DATA', `${bytes.length - node.end} bytes after the DER element`)
  }
  return node
}

function readNode (bytes: Uint8Array, offset: number, limit: number, depth: number, maxDepth: number, budget: { nodes: number }): DerNode {
  if (depth > maxDepth) {
    throw new EncodingError('NESTING_TOO_DEEP', `DER nesting deeper than ${maxDepth}`)
  }
  if (--budget.nodes < 0) {
    throw new EncodingError('MALFORMED_DER', 'too many DER elements')
  }
  if (offset + 2 > limit) {
    throw new EncodingError('TRUNCATED_DER', 'DER element header is truncated')
  }
  const tag = bytes[offset]
  if ((tag & 0x1f) === 0x1f) {
    throw new EncodingError('MALFORMED_DER', 'high-tag-number form is not used in X.509')
  }
  let pos = offset + 1
  let len = bytes[pos++]
  if (len === 0x80) {
    throw new EncodingError('MALFORMED_DER', 'indefinite length is not DER')
  }
  if (len > 0x80) {
    const n = len & 0x7f
    if (n > 4) {
      throw new EncodingError('MALFORMED_DER', 'DER length field is too long')
    }
    if (pos + n > limit) {
      throw new EncodingError('TRUNCATED_DER', 'DER length is truncated')
    }
    if (bytes[pos] === 0) {
      throw new EncodingError('MALFORMED_DER', 'DER length has a leading zero')
    }
    len = 0
    for (let i = 0; i < n; i++) { len = len * 256 + bytes[pos++] }
    if (len < 0x80) {
      throw new EncodingError('MALFORMED_DER', 'DER length is not minimally encoded')
    }
  }
  const contentStart = pos
  const end = contentStart + len
  if (end > limit) {
    throw new EncodingError('TRUNCATED_DER', 'DER content runs past its container')
  }
  const constructed = (tag & 0x20) !== 0
  const node: DerNode = {
    tag,
    constructed,
    tagClass: tag >> 6,
    tagNumber: tag & 0x1f,
    start: offset,
    contentStart,
    end,
    bytes,
    children: []
  }
  if (constructed) {
    let p = contentStart
    while (p < end) {
      const child = readNode(bytes, p, end, depth + 1, maxDepth, budget)
      node.children.push(child)
      p = child.end
    }
  }
  return node
}

/** The content octets of a node. */
export function content (node: DerNode): Uint8Array {
  return node.bytes.subarray(node.contentStart, node.end)
}

/** The whole encoding of a node (header and content). */
export function encoded (node: DerNode): Uint8Array {
  return node.bytes.subarray(node.start, node.end)
}

/** Asserts a node's tag, with a message naming what was expected. */
export function expectTag (node: DerNode | undefined, tag: number, what: string): DerNode {
  if (node == null) {
    throw new EncodingError('MALFORMED_DER', `missing ${what}`)
  }
  if (node.tag !== tag) {
    throw new EncodingError('MALFORMED_DER', `${what}: expected tag 0x${tag.toString(16)}, found 0x${node.tag.toString(16)}`)
  }
  return node
}

/** Reads a DER INTEGER (minimal two's complement) as a bigint. */
export function readInteger (node: DerNode): bigint {
  const c = content(expectTag(node, node.tag === TAG.ENUMERATED ? TAG.ENUMERATED : TAG.INTEGER, 'INTEGER'))
  checkMinimalInteger(c)
  let v = 0n
  for (const b of c) { v = (v << 8n) | BigInt(b) }
  if ((c[0] & 0x80) !== 0) { v -= 1n << BigInt(c.length * 8) }
  return v
}

/** Reads an INTEGER's content octets as-is (serial numbers are compared as bytes). */
export function readIntegerBytes (node: DerNode): Uint8Array {
  const c = content(expectTag(node, TAG.INTEGER, 'INTEGER'))
  checkMinimalInteger(c)
  return c
}

function checkMinimalInteger (c: Uint8Array): void {
  if (c.length === 0) {
    throw new EncodingError('MALFORMED_DER', 'empty INTEGER')
  }
  if (c.length > 1 && ((c[0] === 0x00 && (c[1] & 0x80) === 0) || (c[0] === 0xff && (c[1] & 0x80) !== 0))) {
    throw new EncodingError('MALFORMED_DER', 'INTEGER is not minimally encoded')
  }
}

/** Reads a small non-negative INTEGER as a number, refusing values beyond `max`. */
export function readSmallInteger (node: DerNode, max = Number.MAX_SAFE_INTEGER): number {
  const c = content(expectTag(node, node.tag === TAG.ENUMERATED ? TAG.ENUMERATED : TAG.INTEGER, 'INTEGER'))
  if (c.length > 8) {
    throw new EncodingError('MALFORMED_DER', 'INTEGER too large')
  }
  const v = readInteger(node)
  if (v < 0n || v > BigInt(max)) {
    throw new EncodingError('MALFORMED_DER', `INTEGER out of range 0..${max}`)
  }
  return Number(v)
}

/** Reads a DER BOOLEAN; DER allows only 0x00 and 0xff. */
export function readBoolean (node: DerNode): boolean {
  const c = content(expectTag(node, TAG.BOOLEAN, 'BOOLEAN'))
  if (c.length !== 1 || (c[0] !== 0x00 && c[0] !== 0xff)) {
    throw new EncodingError('MALFORMED_DER', 'BOOLEAN is not DER')
  }
  return c[0] === 0xff
}

/** Reads an OBJECT IDENTIFIER in dotted form. */
export function readOid (node: DerNode): string {
  const c = content(expectTag(node, TAG.OID, 'OBJECT IDENTIFIER'))
  if (c.length === 0 || c.length > 128) {
    throw new EncodingError('MALFORMED_DER', 'bad OBJECT IDENTIFIER length')
  }
  const arcs: number[] = []
  let v = 0
  let first = true
  for (let i = 0; i < c.length; i++) {
    if (v === 0 && c[i] === 0x80) {
      throw new EncodingError('MALFORMED_DER', 'OBJECT IDENTIFIER arc has a leading 0x80')
    }
    v = v * 128 + (c[i] & 0x7f)
    if (v > Number.MAX_SAFE_INTEGER / 128) {
      throw new EncodingError('MALFORMED_DER', 'OBJECT IDENTIFIER arc too large')
    }
    if ((c[i] & 0x80) === 0) {
      if (first) {
        const a = v < 40 ? 0 : v < 80 ? 1 : 2
        arcs.push(a, v - a * 40)
        first = false
      } else {
        arcs.push(v)
      }
      v = 0
    } else if (i === c.length - 1) {
      throw new EncodingError('MALFORMED_DER', 'OBJECT IDENTIFIER is truncated')
    }
  }
  return arcs.join('.')
}

/** Reads a BIT STRING; returns the bytes and the count of unused bits in the last byte. */
export function readBitString (node: DerNode): { bytes: Uint8Array, unusedBits: number } {
  const c = content(expectTag(node, TAG.BIT_STRING, 'BIT STRING'))
  if (c.length === 0 || c[0] > 7 || (c.length === 1 && c[0] !== 0)) {
    throw new EncodingError('MALFORMED_DER', 'bad BIT STRING')
  }
  const unusedBits = c[0]
  const bytes = c.subarray(1)
  if (unusedBits > 0 && (bytes[bytes.length - 1] & ((1 << unusedBits) - 1)) !== 0) {
    throw new EncodingError('MALFORMED_DER', 'BIT STRING unused bits are not zero')
  }
  return { bytes, unusedBits }
}

/** Reads a BIT STRING that must hold whole bytes (signatures, public keys). */
export function readOctetAlignedBitString (node: DerNode): Uint8Array {
  const { bytes, unusedBits } = readBitString(node)
  if (unusedBits !== 0) {
    throw new EncodingError('MALFORMED_DER', 'BIT STRING is not octet-aligned')
  }
  return bytes
}

/**
 * Reads UTCTime or GeneralizedTime in the forms RFC 5280 §4.1.2.5 allows: UTC ("Z"), seconds
 * present, no fractions. Returns milliseconds since the epoch.
 */
export function readTime (node: DerNode): number {
  const s = Buffer.from(content(node)).toString('latin1')
  let m: RegExpExecArray | null
  let year: number
  if (node.tag === TAG.UTC_TIME) {
    m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s)
    if (m == null) { throw new EncodingError('MALFORMED_DER', 'UTCTime is not YYMMDDHHMMSSZ') }
    const yy = Number(m[1])
    year = yy >= 50 ? 1900 + yy : 2000 + yy
  } else if (node.tag === TAG.GENERALIZED_TIME) {
    m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s)
    if (m == null) { throw new EncodingError('MALFORMED_DER', 'GeneralizedTime is not YYYYMMDDHHMMSSZ') }
    year = Number(m[1])
  } else {
    throw new EncodingError('MALFORMED_DER', 'expected a time')
  }
  const [mo, d, h, mi, se] = [Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])]
  const t = Date.UTC(year, mo - 1, d, h, mi, se)
  const back = new Date(t)
  if (mo < 1 || mo > 12 || back.getUTCDate() !== d || h > 23 || mi > 59 || se > 59 || back.getUTCFullYear() !== year) {
    throw new EncodingError('MALFORMED_DER', 'time has out-of-range fields')
  }
  return t
}

/** Reads a string type as text (names are compared after this). */
export function readString (node: DerNode): string {
  const c = content(node)
  switch (node.tag) {
    case TAG.BMP_STRING: {
      if (c.length % 2 !== 0) { throw new EncodingError('MALFORMED_DER', 'odd BMPString') }
      let s = ''
      for (let i = 0; i < c.length; i += 2) { s += String.fromCharCode((c[i] << 8) | c[i + 1]) }
      return s
    }
    case TAG.UNIVERSAL_STRING: {
      if (c.length % 4 !== 0) { throw new EncodingError('MALFORMED_DER', 'bad UniversalString') }
      let s = ''
      for (let i = 0; i < c.length; i += 4) { s += String.fromCodePoint(((c[i] << 24) | (c[i + 1] << 16) | (c[i + 2] << 8) | c[i + 3]) >>> 0) }
      return s
    }
    case TAG.UTF8_STRING:
      return new TextDecoder('utf-8', { fatal: true }).decode(c)
    default:
      return Buffer.from(c).toString('latin1')
  }
}

/** Encodes a DER length + tag header around content (used to build small structures). */
export function encodeTlv (tag: number, body: Uint8Array): Uint8Array {
  const len = body.length
  let header: number[]
  if (len < 0x80) { header = [tag, len] } else if (len < 0x100) { header = [tag, 0x81, len] } else if (len < 0x10000) { header = [tag, 0x82, len >> 8, len & 0xff] } else if (len < 0x1000000) { header = [tag, 0x83, len >> 16, (len >> 8) & 0xff, len & 0xff] } else { header = [tag, 0x84, (len >>> 24) & 0xff, (len >> 16) & 0xff, (len >> 8) & 0xff, len & 0xff] }
  const out = new Uint8Array(header.length + len)
  out.set(header, 0)
  out.set(body, header.length)
  return out
}

/** Encodes a dotted OBJECT IDENTIFIER ("1.2.840.113549.1.5.13") as a DER TLV. */
export function encodeOid (dotted: string): Uint8Array {
  const arcs = dotted.split('.').map(Number)
  const bytes: number[] = [arcs[0] * 40 + arcs[1]]
  for (const a of arcs.slice(2)) {
    const enc: number[] = [a & 0x7f]
    for (let v = Math.floor(a / 128); v > 0; v = Math.floor(v / 128)) { enc.unshift((v & 0x7f) | 0x80) }
    bytes.push(...enc)
  }
  return encodeTlv(TAG.OID, Uint8Array.from(bytes))
}
