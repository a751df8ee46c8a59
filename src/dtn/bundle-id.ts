import { DTN_EPOCH_MS } from './constants.ts'
import { isMeshNodeId } from './eid.ts'
import { BundleError } from './errors.ts'

/**
 * A bundle's identity, as BPv7 defines it (RFC 9171 §4.2.6, §5.1): the source node, the creation
 * time and a sequence number that tells apart bundles created in the same millisecond.
 * Fragments of one bundle share its id and differ by fragment offset.
 */
export interface BundleId {
  /** node_id of the source. */
  source: string
  /** Creation time, Unix milliseconds (BPv7 carries it as DTN time: ms since 2000-01-01). */
  createdAt: number
  sequence: number
}

/** Largest creation time we accept: year 2255 or so, far inside the safe integer range. */
export const MAX_CREATED_AT = 9_000_000_000_000

/** `bundle_id` text: `<source>:<created_at ms>:<sequence>`, for APIs and logs. */
export function formatBundleId (id: BundleId): string {
  return `${id.source}:${id.createdAt}:${id.sequence}`
}

const ID_TEXT = /^([A-Za-z0-9_-][A-Za-z0-9._-]{0,63}):(\d{1,16}):(\d{1,16})$/

/**
 * Parses `bundle_id` text strictly: the source must be a mesh node_id and both numbers decimal
 * without signs. Anything else (separator bytes, NUL, `!`, `\xff`, overlong) is INVALID_ID, so no
 * caller can turn hostile text into a store key.
 */
export function parseBundleId (text: unknown): BundleId {
  if (typeof text !== 'string' || text.length > 100) { throw new BundleError('INVALID_ID', 'bundle id is not text of a sane length') }
  const m = ID_TEXT.exec(text)
  if (m == null) { throw new BundleError('INVALID_ID', 'bundle id does not have the form source:created_at:sequence') }
  return checkBundleId({ source: m[1], createdAt: Number(m[2]), sequence: Number(m[3]) })
}

/** Checks the parts of an id that came from anywhere but our own encoder; throws INVALID_ID. */
export function checkBundleId (id: { source: unknown, createdAt: unknown, sequence: unknown }): BundleId {
  if (!isMeshNodeId(id.source)) { throw new BundleError('INVALID_ID', 'bundle id source is not a node_id') }
  if (!isUint(id.createdAt) || id.createdAt <= DTN_EPOCH_MS || id.createdAt > MAX_CREATED_AT) {
    throw new BundleError('INVALID_ID', 'bundle id creation time is out of range')
  }
  if (!isUint(id.sequence)) { throw new BundleError('INVALID_ID', 'bundle id sequence is out of range') }
  return { source: id.source, createdAt: id.createdAt, sequence: id.sequence }
}

function isUint (v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
}

/** True when both ids name the same bundle. */
export function sameBundleId (a: BundleId, b: BundleId): boolean {
  return a.source === b.source && a.createdAt === b.createdAt && a.sequence === b.sequence
}
