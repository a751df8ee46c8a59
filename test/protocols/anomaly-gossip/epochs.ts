import { newEpoch } from '../../../protocols/anomaly-gossip/gossip-key.ts'
import { parseCertificate } from '../../../src/pki/certificate.ts'
import type { GossipEpoch } from '../../../protocols/anomaly-gossip/gossip-key.ts'
import type { IdentitySigner } from '../../../src/pki/peer-verifier.ts'

/**
 * Each enrolled test node's gossip key epoch, made once at enrollment (its identity key signs the
 * delegation), so that test envelopes are signed synchronously. Kept apart from fixtures.ts so
 * that the node fixtures can make it without importing the gossip fixtures.
 */

/** What an epoch needs of an enrolled node. */
export interface EpochOwner { nodeId: string, chain: Uint8Array[], credentials: { signer: IdentitySigner } }

const epochs = new WeakMap<EpochOwner, GossipEpoch>()

/** Fixed test clock of the node fixtures (test/node/fixtures.ts NOW), repeated to avoid an import cycle. */
const NOW = Date.parse('2026-03-01T12:00:00Z')

/**
 * The epoch `n` signs test envelopes with: delegated by its identity key from a day before NOW to
 * its certificate's end, so that tests may move the clock.
 */
export async function epochFor (n: EpochOwner): Promise<GossipEpoch> {
  let e = epochs.get(n)
  if (e == null) {
    const notAfter = parseCertificate(n.chain[0]).notAfter
    e = await newEpoch(NOW, { nodeId: n.nodeId, notAfter, signer: n.credentials.signer }, Math.max(1, notAfter - NOW))
    epochs.set(n, e)
  }
  return e
}

/** The epoch made by `epochFor`; throws when it was not made yet. */
export function epochOf (n: EpochOwner): GossipEpoch {
  const e = epochs.get(n)
  if (e == null) { throw new Error(`no gossip epoch for ${n.nodeId}: await epochFor first`) }
  return e
}
