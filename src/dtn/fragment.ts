import { createHash } from 'node:crypto'
import { BundleError } from './errors.ts'

/**
 * Fragmentation and reassembly as pure functions (RFC 9171 §5.8, §5.9, at the source only). The
 * store persists fragments; these decide whether a new one fits and whether the set is whole.
 */

/** Cuts `total` bytes into pieces of at most `maxPiece`, in offset order. */
export function planFragments (total: number, maxPiece: number): Array<{ offset: number, length: number }> {
  if (!Number.isSafeInteger(total) || total < 0 || !Number.isSafeInteger(maxPiece) || maxPiece < 1) {
    throw new RangeError('planFragments needs a length and a positive piece size')
  }
  const out: Array<{ offset: number, length: number }> = []
  for (let offset = 0; offset < total; offset += maxPiece) { out.push({ offset, length: Math.min(maxPiece, total - offset) }) }
  return out
}

/** What reassembly knows of a fragment. */
export interface FragmentInfo {
  offset: number
  length: number
  totalLength: number
  aduDigest: Uint8Array
}

/**
 * Checks `next` against the fragments already held for the same bundle (sorted or not) and
 * says whether the set is complete once it is added. Throws, storing nothing:
 * - FRAGMENT_MISMATCH when it disagrees on total length or ADU digest,
 * - FRAGMENT_OVERLAP when its byte range meets one already held,
 * - FRAGMENT_OUT_OF_RANGE when it does not lie inside the ADU.
 */
export function admitFragment (held: readonly FragmentInfo[], next: FragmentInfo): { complete: boolean, received: number } {
  // [REJECT] outside the ADU (the parser checks this too; reassembly must not depend on it)
  if (next.length < 1 || next.offset < 0 || next.offset + next.length > next.totalLength) {
    throw new BundleError('FRAGMENT_OUT_OF_RANGE', 'fragment lies outside its ADU')
  }
  let received = next.length
  for (const h of held) {
    // [REJECT] siblings disagree on what ADU they belong to
    if (h.totalLength !== next.totalLength || !sameBytes(h.aduDigest, next.aduDigest)) {
      throw new BundleError('FRAGMENT_MISMATCH', 'fragment disagrees with its siblings on the ADU length or digest')
    }
    // [REJECT] byte ranges meet: a second source of truth for the same bytes
    if (next.offset < h.offset + h.length && h.offset < next.offset + next.length) {
      throw new BundleError('FRAGMENT_OVERLAP', `fragment [${next.offset}, +${next.length}) overlaps [${h.offset}, +${h.length})`)
    }
    received += h.length
  }
  // no overlaps and all inside the ADU, so covering every byte means the byte counts add up
  return { complete: received === next.totalLength, received }
}

/**
 * Joins non-overlapping fragments that cover the ADU and checks the SHA-256 the source signed;
 * DIGEST_MISMATCH otherwise.
 */
export function reassemble (pieces: ReadonlyArray<{ offset: number, payload: Uint8Array }>, totalLength: number, aduDigest: Uint8Array): Uint8Array {
  const out = new Uint8Array(totalLength)
  let covered = 0
  for (const p of pieces) {
    if (p.offset + p.payload.length > totalLength) { throw new BundleError('FRAGMENT_OUT_OF_RANGE', 'fragment lies outside its ADU') }
    out.set(p.payload, p.offset)
    covered += p.payload.length
  }
  if (covered !== totalLength) { throw new BundleError('FRAGMENT_MISMATCH', 'fragments do not cover the ADU exactly') }
  const digest = createHash('sha256').update(out).digest()
  if (!sameBytes(digest, aduDigest)) { throw new BundleError('DIGEST_MISMATCH', 'reassembled payload does not match the signed SHA-256') }
  return out
}

function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) { return false }
  for (let i = 0; i < a.length; i++) { if (a[i] !== b[i]) { return false } }
  return true
}
