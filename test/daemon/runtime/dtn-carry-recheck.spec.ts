import { expect } from 'aegir/chai'
import { pino } from 'pino'
import { encodePayload, envelopeDigest } from '../../../protocols/anomaly-gossip/index.ts'
import { startDtnCarry } from '../../../src/daemon/runtime/dtn-carry.ts'
import type { DtnCarry } from '../../../src/daemon/runtime/dtn-carry.ts'
import type { NodeBundles } from '../../../src/daemon/runtime/dtn.ts'
import type { MeshNode } from '../../../src/node/index.ts'
import type { ChainVerifier } from '../../../src/pki/chain-verifier.ts'
import type { AnomalyRecord } from '../../../src/store/anomaly-store.ts'

/**
 * Under the `missing` policy a signature published while every known peer looks connected is
 * looked at again after `recheckMs`: a link that failed silently (no packet back, QUIC's idle
 * timeout not yet passed) still looks connected when the signature goes out, and gossip sent
 * into it is lost. A fake node and bundle layer: only the carry decision is under test.
 */
describe('node runtime / dtn-carry: the recheck of a signature published while all looked connected', function () {
  const rows: Array<{ peer_id: string, status: string }> = []
  let node: MeshNode & EventTarget
  let libp2p: EventTarget
  let sent: Array<{ destination: string }>
  let carry: DtnCarry | undefined

  function record (id: string): AnomalyRecord {
    const payload = { type: 'sha256', value: 'ab'.repeat(32) }
    const timestamp = Date.now()
    const expiry = timestamp + 600_000
    const digest = envelopeDigest({ message_id: id, origin: 'n1', timestamp, expiry, payload: encodePayload(payload) })
    return { message_id: id, origin: 'n1', origin_peer_id: 'P0', timestamp, expiry, payload, digest, received_at: timestamp, source: 'local', envelope: Buffer.from(id).toString('base64') } as unknown as AnomalyRecord
  }

  beforeEach(() => {
    rows.splice(0, rows.length, { peer_id: 'P1', status: 'authenticated' }, { peer_id: 'P2', status: 'authenticated' })
    libp2p = new EventTarget()
    node = Object.assign(new EventTarget(), { gossip: {}, peers: { rows: () => rows }, libp2p }) as unknown as MeshNode & EventTarget
    sent = []
    const bundles = {
      send: async (o: { destination: string }) => { sent.push(o); return { bundleId: `b${sent.length}` } },
      intercept: () => {}
    } as unknown as NodeBundles
    carry = startDtnCarry({ node, bundles, chainVerifier: {} as unknown as ChainVerifier, now: Date.now, log: pino({ level: 'silent' }), options: { recheckMs: 50 } })
  })

  afterEach(() => { carry?.stop() })

  const settle = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

  it('carried after all when a peer connected at the publish drops before the recheck', async () => {
    node.dispatchEvent(new CustomEvent('anomaly', { detail: record('n1:m1') }))
    await settle(10)
    expect(sent, 'not carried at once: every known peer looked connected').to.have.lengthOf(0)
    libp2p.dispatchEvent(new CustomEvent('peer:disconnect', { detail: { toString: () => 'P2' } }))
    await settle(100)
    expect(sent).to.have.lengthOf(1)
    expect(carry?.stats.anomaliesSent).to.equal(1)
  })

  it('carried at the recheck when a known peer is away by then', async () => {
    node.dispatchEvent(new CustomEvent('anomaly', { detail: record('n1:m2') }))
    rows[0].status = 'disconnected'
    await settle(100)
    expect(sent).to.have.lengthOf(1)
  })

  it('not carried when every peer stayed connected, and never twice', async () => {
    node.dispatchEvent(new CustomEvent('anomaly', { detail: record('n1:m3') }))
    // A peer that was not connected at the publish dropping says nothing about this signature.
    libp2p.dispatchEvent(new CustomEvent('peer:disconnect', { detail: { toString: () => 'P9' } }))
    await settle(100)
    expect(sent).to.have.lengthOf(0)
    rows[1].status = 'disconnected'
    node.dispatchEvent(new CustomEvent('anomaly', { detail: record('n1:m4') }))
    await settle(100)
    expect(sent).to.have.lengthOf(1)
  })

  it('stop cancels the pending rechecks', async () => {
    node.dispatchEvent(new CustomEvent('anomaly', { detail: record('n1:m5') }))
    carry?.stop()
    libp2p.dispatchEvent(new CustomEvent('peer:disconnect', { detail: { toString: () => 'P1' } }))
    await settle(100)
    expect(sent).to.have.lengthOf(0)
  })
})
