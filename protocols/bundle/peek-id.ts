import { decodeBundle } from '../../src/dtn/bpv7.ts'
import { DTN_EPOCH_MS } from '../../src/dtn/constants.ts'
import { eidNodeId } from '../../src/dtn/eid.ts'
import { BundleError } from '../../src/dtn/errors.ts'
import type { BundleId } from '../../src/dtn/bundle-id.ts'

/** The id and fragment offset of a bundle, from its primary block alone; BundleError if there is none. */
export function peekId (bytes: Uint8Array): { id: BundleId, offset: number } {
  const { primary } = decodeBundle(bytes, { maxBlocks: 3 })
  if (primary.creationTime === 0) { throw new BundleError('INVALID_FIELDS', 'no creation time') }
  return {
    id: { source: eidNodeId(primary.source, 'source'), createdAt: primary.creationTime + DTN_EPOCH_MS, sequence: primary.sequence },
    offset: primary.fragment?.offset ?? 0
  }
}
