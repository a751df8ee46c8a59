import { isValidNodeId } from '../pki/node-identity.ts'
import { arrayField, uintField } from './cbor-items.ts'
import { BundleError } from './errors.ts'

/**
 * BPv7 endpoint ids (RFC 9171 §4.2.5.1): `dtn` (scheme 1) and `ipn` (scheme 2). The generic codec
 * reads both so outside bundles (the RFC 9173 examples use ipn) parse; the mesh itself only uses
 *
 * - `dtn://<node_id>/` for a node (empty demux: the node's own endpoint), and
 * - `dtn://~mesh/~broadcast` for broadcast: a demux starting with `~` marks a non-singleton
 * endpoint (RFC 9171 §4.2.5.1.1), and the node name `~mesh` can never be a node_id (node_ids
 * are `[A-Za-z0-9._-]`), so no node can be confused with it.
 */
export type Eid =
  | { scheme: 'dtn', ssp: string }
  | { scheme: 'dtn', none: true }
  | { scheme: 'ipn', node: number, service: number }

/** The model's name for the broadcast destination. */
export const BROADCAST = 'broadcast'
export type Destination = string

export const BROADCAST_SSP = '//~mesh/~broadcast'
/** Longest dtn SSP we read: a 64-character node_id plus slashes, with room for foreign demuxes. */
const MAX_SSP_CHARS = 256

/** The CBOR value of an EID (RFC 9171 §4.2.5.1). */
export function encodeEid (eid: Eid): unknown[] {
  if (eid.scheme === 'ipn') { return [2, [eid.node, eid.service]] }
  return 'none' in eid ? [1, 0] : [1, eid.ssp]
}

/** Reads an EID value; unknown schemes and malformed SSPs are MALFORMED_BUNDLE. */
export function decodeEid (v: unknown, what: string): Eid {
  const a = arrayField(v, what, 2, 2)
  const scheme = uintField(a[0], `${what} scheme`)
  if (scheme === 1) {
    if (a[1] === 0) { return { scheme: 'dtn', none: true } }
    if (typeof a[1] !== 'string' || a[1].length > MAX_SSP_CHARS || !a[1].startsWith('//')) {
      throw new BundleError('MALFORMED_BUNDLE', `${what} is not a dtn SSP`)
    }
    return { scheme: 'dtn', ssp: a[1] }
  }
  if (scheme === 2) {
    const ssp = arrayField(a[1], `${what} ipn SSP`, 2, 2)
    return { scheme: 'ipn', node: uintField(ssp[0], `${what} node number`), service: uintField(ssp[1], `${what} service number`) }
  }
  throw new BundleError('MALFORMED_BUNDLE', `${what} has unknown URI scheme ${scheme}`)
}

/** Text form, for logs and tests: `dtn:none`, `dtn://a/`, `ipn:2.1`. */
export function eidToString (eid: Eid): string {
  if (eid.scheme === 'ipn') { return `ipn:${eid.node}.${eid.service}` }
  return 'none' in eid ? 'dtn:none' : `dtn:${eid.ssp}`
}

/** The EID of node `nodeId`; refuses ids that fail the node_id syntax (they would never parse back). */
export function nodeEid (nodeId: string): Eid {
  if (!isMeshNodeId(nodeId)) { throw new BundleError('INVALID_EID', 'not a valid node_id') }
  return { scheme: 'dtn', ssp: `//${nodeId}/` }
}

/** The EID of a destination: a node_id or `broadcast`. */
export function destinationEid (destination: Destination): Eid {
  return destination === BROADCAST ? { scheme: 'dtn', ssp: BROADCAST_SSP } : nodeEid(destination)
}

/** A node_id usable in the mesh: the PKI's syntax, and not the reserved word `broadcast`. */
export function isMeshNodeId (s: unknown): s is string {
  return typeof s === 'string' && s !== BROADCAST && isValidNodeId(s)
}

/** The node_id a mesh EID names; anything else is INVALID_EID. */
export function eidNodeId (eid: Eid, what: string): string {
  if (eid.scheme === 'dtn' && !('none' in eid)) {
    const m = /^\/\/([^/]+)\/$/.exec(eid.ssp)
    if (m != null && isMeshNodeId(m[1])) { return m[1] }
  }
  throw new BundleError('INVALID_EID', `${what} is not a mesh node EID`)
}

/** The destination (node_id or `broadcast`) a mesh EID names; anything else is INVALID_EID. */
export function eidDestination (eid: Eid): Destination {
  if (eid.scheme === 'dtn' && !('none' in eid) && eid.ssp === BROADCAST_SSP) { return BROADCAST }
  return eidNodeId(eid, 'destination')
}
