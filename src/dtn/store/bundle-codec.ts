import type { DeliveredMeta, FragmentMeta, OutboundMeta } from './bundle-records.ts'
import type { PeerIdentity } from '../../pki/peer-verifier.ts'

/**
 * The bundle store's record encoding: a small fixed binary layout per record kind, then the
 * payload (or bundle) bytes as they are, because a JSON record costs an accept a stringify of a
 * nested object, base64 of the key bytes, a UTF-8 pass over the text, and a parse to read one
 * back: the largest cost of an accept in the store's own code (bench/dtn.ts shows the accept
 * rate). Here the numbers are float64 (all are safe integers: times in ms, counts,
 * lengths; float64 holds them exactly), strings and byte fields are u32-length-prefixed, and a
 * signer's block is encoded once and copied into every record of its source (the verifier hands
 * out one object per source). In order: byte 0 is 0xb7 (format 1), byte 1 the kind (1 outbound,
 * 2 fragment, 3 delivered), byte 2 flags, byte 3 zero; then the kind's float64 LE numbers, its
 * strings and bytes (u32 LE length, then the bytes), the signer block, and the data to the end.
 *
 * Records in the JSON format ([u32 BE length][JSON][data]; the first byte is always 0: metadata
 * never reaches 16 MiB) are read too, so a store that holds them opens.
 */

export type RecordKind = 'outbound' | 'fragment' | 'delivered'

const MAGIC = 0xb7
const KIND = { outbound: 1, fragment: 2, delivered: 3 } as const
const FRAGMENTED = 1
const BROADCAST = 2
const RECEIVED_FROM = 4
/** Most `sentTo` entries a record carries (the agent keeps far fewer): bounds the decode loop. */
const MAX_SENT_TO = 4096

/** Worst-case encoded size of a string: 4 length bytes and 3 bytes per UTF-16 unit. */
const strMax = (s: string): number => 4 + 3 * s.length

/**
 * Records are carved from shared slabs rather than allocated one by one: a record is about
 * 2.5 KiB, so Node's 8 KiB Buffer pool made a new ArrayBuffer every third accept, and those were
 * a measurable part of an accept's allocation and GC cost. A record stays valid as long as it is
 * referenced (a slab is never reused, only dropped; LevelDB copies values into its batch).
 */
const SLAB_BYTES = 64 * 1024
let slab = Buffer.allocUnsafeSlow(SLAB_BYTES)
let slabPos = 0

/** A cursor over a record being written; every write is in bounds (the space was sized for the worst case). */
class Writer {
  readonly buf: Buffer
  readonly start: number
  pos: number

  /** Room for `size` bytes at a fresh position of the current slab (or a buffer of its own when large). */
  constructor (size: number) {
    if (size > SLAB_BYTES >> 2) {
      this.buf = Buffer.allocUnsafeSlow(size)
      this.start = 0
    } else {
      if (slabPos + size > SLAB_BYTES) {
        slab = Buffer.allocUnsafeSlow(SLAB_BYTES)
        slabPos = 0
      }
      this.buf = slab
      this.start = slabPos
    }
    this.pos = this.start + 4
  }

  /** The record written, and the slab space after it freed for the next one. */
  done (): Buffer {
    if (this.buf === slab) { slabPos = (this.pos + 7) & ~7 }
    return this.buf.subarray(this.start, this.pos)
  }

  num (n: number): void {
    this.pos = this.buf.writeDoubleLE(n, this.pos)
  }

  str (s: string): void {
    const n = this.buf.write(s, this.pos + 4, 'utf8')
    this.buf.writeUInt32LE(n, this.pos)
    this.pos += 4 + n
  }

  bytes (b: Uint8Array): void {
    this.buf.writeUInt32LE(b.length, this.pos)
    this.buf.set(b, this.pos + 4)
    this.pos += 4 + b.length
  }

  raw (b: Uint8Array): void {
    this.buf.set(b, this.pos)
    this.pos += b.length
  }
}

/** A cursor over a record being read; throws RangeError on a record cut short. */
class Reader {
  readonly buf: Buffer
  pos = 4

  constructor (buf: Buffer) {
    this.buf = buf
  }

  num (): number {
    const n = this.buf.readDoubleLE(this.pos)
    this.pos += 8
    return n
  }

  #span (): [number, number] {
    const n = this.buf.readUInt32LE(this.pos)
    const start = this.pos + 4
    if (start + n > this.buf.length) { throw new RangeError('bundle record is truncated') }
    this.pos = start + n
    return [start, start + n]
  }

  str (): string {
    const [a, b] = this.#span()
    return this.buf.toString('utf8', a, b)
  }

  /** A copy, so metadata never pins the record it came from. */
  bytes (): Uint8Array {
    const [a, b] = this.#span()
    const out = new Uint8Array(b - a)
    out.set(this.buf.subarray(a, b))
    return out
  }
}

const signerBlocks = new WeakMap<PeerIdentity, Buffer>()

/** The signer's encoded block, made once per signer object. */
function signerBlock (s: PeerIdentity): Buffer {
  let block = signerBlocks.get(s)
  if (block == null) {
    const w = new Writer(4 + 16 + strMax(s.nodeId) + strMax(s.peerId) + strMax(s.serialHex) + 4 + s.spki.length + strMax(s.fingerprint) + strMax(s.issuerFingerprint))
    w.pos = w.start
    w.num(s.notBefore)
    w.num(s.notAfter)
    w.str(s.nodeId)
    w.str(s.peerId)
    w.str(s.serialHex)
    w.bytes(s.spki)
    w.str(s.fingerprint)
    w.str(s.issuerFingerprint)
    block = Buffer.from(w.done())
    signerBlocks.set(s, block)
  }
  return block
}

function readSigner (r: Reader): PeerIdentity {
  const notBefore = r.num()
  const notAfter = r.num()
  const nodeId = r.str()
  const peerId = r.str()
  const serialHex = r.str()
  const spki = r.bytes()
  const fingerprint = r.str()
  const issuerFingerprint = r.str()
  return { nodeId, peerId, serialHex, notBefore, notAfter, spki, fingerprint, issuerFingerprint }
}

/** Encodes one record: metadata of `kind` followed by `data` (bundle bytes or payload). */
export function encodeRecord (kind: 'outbound', meta: OutboundMeta, data: Uint8Array): Uint8Array
export function encodeRecord (kind: 'fragment', meta: FragmentMeta, data: Uint8Array): Uint8Array
export function encodeRecord (kind: 'delivered', meta: DeliveredMeta, data: Uint8Array): Uint8Array
export function encodeRecord (kind: RecordKind, meta: OutboundMeta | FragmentMeta | DeliveredMeta, data: Uint8Array): Uint8Array {
  const signer = signerBlock(meta.signer)
  const from = meta.receivedFrom
  let size = 4 + 14 * 8 + strMax(meta.id.source) + strMax(meta.destination) + (from == null ? 0 : strMax(from)) + signer.length + data.length
  let flags = from == null ? 0 : RECEIVED_FROM
  if (kind === 'outbound') {
    const m = meta as OutboundMeta
    size += 4
    for (const s of m.sentTo) { size += strMax(s) }
    if (m.fragmented) { flags |= FRAGMENTED }
    if (m.broadcast) { flags |= BROADCAST }
  } else {
    size += 4 + (meta as FragmentMeta | DeliveredMeta).aduDigest.length
  }
  const w = new Writer(size)
  w.buf[w.start] = MAGIC
  w.buf[w.start + 1] = KIND[kind]
  w.buf[w.start + 2] = flags
  w.buf[w.start + 3] = 0
  w.num(meta.id.createdAt)
  w.num(meta.id.sequence)
  w.num(meta.createdAt)
  w.num(meta.expiresAt)
  if (kind === 'outbound') {
    const m = meta as OutboundMeta
    w.num(m.offset)
    w.num(m.length)
    w.num(m.aduLength)
    w.num(m.hopCount)
    w.num(m.hopLimit)
    w.num(m.copies)
    w.num(m.attempts)
    w.num(m.nextAttemptAt)
    w.num(m.acceptedAt)
  } else if (kind === 'fragment') {
    const m = meta as FragmentMeta
    w.num(m.offset)
    w.num(m.length)
    w.num(m.totalLength)
  } else {
    const m = meta as DeliveredMeta
    w.num(m.aduLength)
    w.num(m.deliveredAt)
  }
  w.str(meta.id.source)
  w.str(meta.destination)
  if (from != null) { w.str(from) }
  if (kind === 'outbound') {
    const sentTo = (meta as OutboundMeta).sentTo
    w.buf.writeUInt32LE(sentTo.length, w.pos)
    w.pos += 4
    for (const s of sentTo) { w.str(s) }
  } else {
    w.bytes((meta as FragmentMeta | DeliveredMeta).aduDigest)
  }
  w.raw(signer)
  w.raw(data)
  return w.done()
}

/** Decodes a record of any kind (and of the earlier JSON format): its metadata and a view of its data. */
export function decodeRecord<M> (v: Uint8Array): { meta: M, data: Uint8Array } {
  const buf = Buffer.from(v.buffer, v.byteOffset, v.byteLength)
  if (buf[0] !== MAGIC) { return decodeJsonRecord<M>(buf) }
  const kind = buf[1]
  const flags = buf[2]
  const r = new Reader(buf)
  const createdAtId = r.num()
  const sequence = r.num()
  const createdAt = r.num()
  const expiresAt = r.num()
  let meta: Record<string, unknown>
  if (kind === KIND.outbound) {
    const offset = r.num()
    const length = r.num()
    const aduLength = r.num()
    const hopCount = r.num()
    const hopLimit = r.num()
    const copies = r.num()
    const attempts = r.num()
    const nextAttemptAt = r.num()
    const acceptedAt = r.num()
    const source = r.str()
    const destination = r.str()
    const receivedFrom = (flags & RECEIVED_FROM) !== 0 ? r.str() : undefined
    const n = buf.readUInt32LE(r.pos)
    if (n > MAX_SENT_TO) { throw new RangeError('bundle record holds too many holders') }
    r.pos += 4
    const sentTo: string[] = []
    for (let i = 0; i < n; i++) { sentTo.push(r.str()) }
    meta = {
      id: { source, createdAt: createdAtId, sequence },
      offset,
      length,
      fragmented: (flags & FRAGMENTED) !== 0,
      aduLength,
      destination,
      broadcast: (flags & BROADCAST) !== 0,
      createdAt,
      expiresAt,
      hopCount,
      hopLimit,
      copies,
      attempts,
      nextAttemptAt,
      sentTo
    }
    if (receivedFrom != null) { meta.receivedFrom = receivedFrom }
    meta.acceptedAt = acceptedAt
  } else if (kind === KIND.fragment) {
    const offset = r.num()
    const length = r.num()
    const totalLength = r.num()
    const source = r.str()
    const destination = r.str()
    const receivedFrom = (flags & RECEIVED_FROM) !== 0 ? r.str() : undefined
    const aduDigest = r.bytes()
    meta = { id: { source, createdAt: createdAtId, sequence }, offset, length, totalLength, aduDigest, destination, createdAt, expiresAt }
    if (receivedFrom != null) { meta.receivedFrom = receivedFrom }
  } else if (kind === KIND.delivered) {
    const aduLength = r.num()
    const deliveredAt = r.num()
    const source = r.str()
    const destination = r.str()
    const receivedFrom = (flags & RECEIVED_FROM) !== 0 ? r.str() : undefined
    const aduDigest = r.bytes()
    meta = { id: { source, createdAt: createdAtId, sequence }, destination, createdAt, expiresAt, aduLength, aduDigest, deliveredAt }
    if (receivedFrom != null) { meta.receivedFrom = receivedFrom }
  } else {
    throw new RangeError('unknown bundle record kind')
  }
  meta.signer = readSigner(r)
  return { meta: meta as M, data: buf.subarray(r.pos) }
}

/** A record in the JSON format: [u32 BE length of the metadata][metadata JSON][data], byte fields as base64. */
function decodeJsonRecord<M> (buf: Buffer): { meta: M, data: Uint8Array } {
  const n = buf.readUInt32BE(0)
  if (4 + n > buf.length) { throw new RangeError('bundle record is truncated') }
  const meta = JSON.parse(buf.toString('utf8', 4, 4 + n))
  meta.signer.spki = Uint8Array.from(Buffer.from(meta.signer.spki, 'base64'))
  if (typeof meta.aduDigest === 'string') { meta.aduDigest = Uint8Array.from(Buffer.from(meta.aduDigest, 'base64')) }
  return { meta: meta as M, data: buf.subarray(4 + n) }
}
