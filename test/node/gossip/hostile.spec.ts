/* eslint-disable jsdoc/check-indentation -- doc comments here hold indented lists and diagrams */
import { randomUUID } from 'node:crypto'
import { expect } from 'aegir/chai'
import { signEnvelope } from '../../../protocols/anomaly-gossip/gossip-key.ts'
import { ANOMALY_TOPIC, MAX_PAYLOAD_BYTES } from '../../../protocols/anomaly-gossip/index.ts'
import { HOUR, MINUTE, encoded, envelopeFrom, epochOf, originChain, rawEncode } from '../../protocols/anomaly-gossip/fixtures.ts'
import { NOW, createTestCa, enroll, eventually, waitForEvent } from '../fixtures.ts'
import { link, meshed, restartGossipNode, startGossipNode, stopAll, waitMeshed } from '../gossip-fixtures.ts'
import type { AnomalyValidationCode } from '../../../protocols/anomaly-gossip/index.ts'
import type { AnomalyRecord } from '../../../src/store/anomaly-store.ts'
import type { TestCa } from '../fixtures.ts'
import type { GossipNode } from '../gossip-fixtures.ts'

/**
 * Rejected gossip messages, end to end over QUIC. The hostile party is a crafted publisher: a
 * real, enrolled and authenticated mesh node that bypasses `publishAnomaly` and pushes raw
 * gossipsub messages (the mesh runs StrictNoSign: the envelope's own signature is all there is). Each case must be
 * rejected by the first honest hop (B), counted in B's validation metrics, not forwarded to C
 * (B's only other neighbour in this test), and lower the sender's score at B.
 *
 *   M_i (one fresh crafted publisher per case) ─┐
 *   A (valid origin) ──────────────────────────── B ── C
 *   R (revoked at B and C) ── X (no CRL yet) ─────┘
 *
 * The replay case: gossipsub drops a repeated message id silently while it remembers the id
 * (its seen TTL, 2 min) and scores a rejection only once its own delivery record of the id is
 * gone (also 2 min). Both live in memory; a node that restarts has neither. The original is
 * published in `before`; the last test restarts B and the replayer over their stores and
 * replays it: it then meets only the validator's seen index (on disk, kept until the
 * envelope's expiry), is rejected as REPLAYED and penalised.
 */
describe('anomaly gossip: hostile publishers over QUIC', function () {
  this.timeout(180_000)
  let tca: TestCa
  let foreign: TestCa
  let a: GossipNode, b: GossipNode, c: GossipNode
  const extra: GossipNode[] = []
  let host = 80
  let replayer: GossipNode
  let original: Uint8Array

  before(async () => {
    tca = await createTestCa('gossip-hostile')
    foreign = await createTestCa('gossip-foreign')
    a = await startGossipNode('a', await enroll(tca, 'node-a'), tca, { host: 70 })
    b = await startGossipNode('b', await enroll(tca, 'node-b'), tca, { host: 71 })
    c = await startGossipNode('c', await enroll(tca, 'node-c'), tca, { host: 72 })
    await link(a, b)
    await link(b, c)
    await waitMeshed([[a, b], [b, c]])
    // The original of the replay case: accepted by B, reaching C. Its replay is the last test.
    replayer = await crafted('crafted-replay')
    const bytes = encoded(envelopeFrom(replayer.enrolled))
    const first = waitForEvent<AnomalyRecord>(c.node, 'anomaly', r => r.origin === 'crafted-replay', 10_000)
    await replayer.pubsub.publish(ANOMALY_TOPIC, bytes)
    await first
    original = bytes
  })

  after(async () => {
    await stopAll([a, b, c, ...extra])
    await tca?.close()
    await foreign?.close()
  })

  /** A fresh crafted publisher linked to B only. */
  async function crafted (nodeId: string): Promise<GossipNode> {
    const m = await startGossipNode(nodeId, await enroll(tca, nodeId), tca, { host: host++ })
    extra.push(m)
    await link(m, b)
    await eventually(() => meshed(m, b), 20_000)
    return m
  }

  /** One ping round trip, ms. The previous ping's stream may still be closing (one outbound ping stream per connection): retried, bounded. */
  async function pingOnce (from: GossipNode, to: GossipNode): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await from.node.libp2p.services.ping.ping(to.node.peerId, { signal: AbortSignal.timeout(5_000) })
      } catch (err: any) {
        if (err.name !== 'TooManyOutboundProtocolStreamsError' || attempt >= 50) { throw err }
        await new Promise(resolve => setTimeout(resolve, 20))
      }
    }
  }

  const rejects = (n: GossipNode, code?: AnomalyValidationCode): number => n.gossip.anomaly.validationMetrics.count(ANOMALY_TOPIC, 'reject', code)

  /** Sends raw bytes from `m`; B must reject them with `code`, lower m's score, and C must never see them. */
  async function expectRejected (m: GossipNode, bytes: Uint8Array, code: AnomalyValidationCode, send?: () => Promise<unknown>): Promise<void> {
    const scoreBefore = b.pubsub.getScore(m.peerId)
    const before = rejects(b, code)
    const cBefore = c.gossip.anomaly.validationMetrics.snapshot()
    // 1. m publishes the crafted envelope as a raw gossipsub message.
    await (send ?? (async () => m.pubsub.publish(ANOMALY_TOPIC, bytes)))()
    // 2. B rejects it with the expected code and counts it; m's score at B drops.
    await eventually(() => rejects(b, code) === before + 1, 10_000)
    await eventually(() => b.pubsub.getScore(m.peerId) < scoreBefore, 10_000)
    // 3. Not forwarded: a valid message m sends after it reaches C through B, and C saw nothing else.
    const marker = randomUUID()
    const arrived = waitForEvent<AnomalyRecord>(c.node, 'anomaly', r => r.payload.value === marker, 10_000)
    await m.node.publishAnomaly({ type: 'marker', value: marker })
    await arrived
    expect(c.gossip.anomaly.validationMetrics.snapshot().filter(s => s.result !== 'accept')).to.deep.equal(cBefore.filter(s => s.result !== 'accept'))
  }

  it('an expired envelope', async () => {
    const m = await crafted('crafted-expired')
    await expectRejected(m, encoded(envelopeFrom(m.enrolled, { now: NOW - 3 * HOUR, ttlMs: HOUR })), 'EXPIRED')
  })

  it('a future timestamp', async () => {
    const m = await crafted('crafted-future')
    await expectRejected(m, encoded(envelopeFrom(m.enrolled, { now: NOW + 10 * MINUTE })), 'FUTURE_TIMESTAMP')
  })

  it('a payload over the size limit', async () => {
    const m = await crafted('crafted-oversized')
    // Raw CBOR: our own encoder refuses to build it.
    await expectRejected(m, rawEncode(envelopeFrom(m.enrolled, { payloadBytes: new Uint8Array(MAX_PAYLOAD_BYTES + 1) })), 'PAYLOAD_TOO_LARGE')
  })

  it('an envelope in another node\'s name, signed with the sender\'s own keys', async () => {
    const m = await crafted('crafted-impostor')
    // A's real chain and node_id; m's gossip key and m's identity key's delegation.
    await expectRejected(m, encoded(signEnvelope(envelopeFrom(a.enrolled), epochOf(m.enrolled))), 'BAD_DELEGATION')
  })

  it('an origin certificate from a foreign CA', async () => {
    const m = await crafted('crafted-foreign')
    // m's own PeerId, certified by a CA the mesh does not trust.
    const alien = await enroll(foreign, 'crafted-foreign', { hostKey: m.enrolled.hostKey })
    await expectRejected(m, encoded(envelopeFrom(alien, { chain: originChain(alien) })), 'CERT_UNTRUSTED')
  })

  it('a message from a revoked origin, correctly signed and relayed through a still-valid node', async () => {
    const r = await startGossipNode('r', await enroll(tca, 'node-r'), tca, { host: host++ })
    const x = await startGossipNode('x', await enroll(tca, 'node-x'), tca, { host: host++ })
    extra.push(r, x)
    await link(r, x)
    await link(x, b)
    await waitMeshed([[r, x], [x, b]])
    // 1. The CA revokes R; B and C hold the new CRL, X does not yet.
    await tca.ca.revoke({ serialHex: r.enrolled.serialHex, now: new Date(NOW - 60_000) })
    const crl = await tca.ca.buildCrl(new Date(NOW - 30_000))
    for (const n of [b, c]) { n.verifier.installCrl(crl.der, new Date(NOW)) }
    // 2. R publishes a valid, correctly signed signature; X accepts and relays it to B.
    const atX = waitForEvent<AnomalyRecord>(x.node, 'anomaly', rec => rec.origin === 'node-r', 10_000)
    const scoreBefore = b.pubsub.getScore(x.peerId)
    const published = await r.node.publishAnomaly({ type: 'sha256', value: 'e'.repeat(64) })
    expect((await atX).message_id).to.equal(published.messageId)
    // 3. B rejects it as ORIGIN_REVOKED, the relay's score drops, and C never sees it.
    await eventually(() => rejects(b, 'ORIGIN_REVOKED') === 1, 10_000)
    await eventually(() => b.pubsub.getScore(x.peerId) < scoreBefore, 10_000)
    const marker = randomUUID()
    const arrived = waitForEvent<AnomalyRecord>(c.node, 'anomaly', rec => rec.payload.value === marker, 10_000)
    await x.node.publishAnomaly({ type: 'marker', value: marker })
    await arrived
    expect(await c.node.anomalies.get(published.messageId)).to.equal(undefined)
    expect(rejects(c)).to.equal(0)
  })

  it('1,000 invalid messages per second from one peer: the node stays responsive and valid traffic still arrives', async () => {
    const f = await crafted('flooder')
    const RATE = 1_000
    const FLOOD_MS = 3_000
    const VALID = 30
    // 1. The flood: distinct expired envelopes (each a fresh id, so none is a gossipsub duplicate),
    // paced in 10 ms slices of RATE/100 messages, for FLOOD_MS at most.
    const junk = (): Uint8Array => encoded(envelopeFrom(f.enrolled, { now: NOW - 3 * HOUR, ttlMs: HOUR }))
    let sent = 0
    let floodMs = 0
    const t0 = performance.now()
    const flood = (async () => {
      for (let slice = 0; slice < FLOOD_MS / 10; slice++) {
        const due = t0 + slice * 10
        const wait = due - performance.now()
        if (wait > 0) { await new Promise(resolve => setTimeout(resolve, wait)) }
        for (let i = 0; i < RATE / 100; i++) {
          await f.pubsub.publish(ANOMALY_TOPIC, junk()).catch(() => {})
          sent++
        }
      }
      floodMs = performance.now() - t0
    })()
    // 2. Meanwhile A publishes valid signatures, and C pings B.
    const validIds = new Set<string>()
    const atC = new Set<string>()
    const onC = (e: CustomEvent<AnomalyRecord>): void => { if (e.detail.origin === 'node-a') { atC.add(e.detail.message_id) } }
    c.node.addEventListener('anomaly', onC)
    const rtts: number[] = []
    const traffic = (async () => {
      for (let i = 0; i < VALID; i++) {
        validIds.add((await a.node.publishAnomaly({ type: 'rule', value: `flood-${i}` })).messageId)
        rtts.push(await pingOnce(c, b))
        await new Promise(resolve => setTimeout(resolve, FLOOD_MS / VALID))
      }
    })()
    await Promise.all([flood, traffic])
    // 3. Every valid signature reaches B and C; B counted rejections and graylisted the flooder.
    await eventually(() => [...validIds].every(id => atC.has(id)), 15_000)
    c.node.removeEventListener('anomaly', onC)
    for (const id of validIds) { expect(await b.node.anomalies.get(id)).to.not.equal(undefined) }
    const counted = rejects(b, 'EXPIRED')
    const score = b.pubsub.getScore(f.peerId)
    const maxRtt = Math.max(...rtts)
    // eslint-disable-next-line no-console -- the flood's figures
    console.log(`      flood: ${sent} invalid messages in ${floodMs.toFixed(0)} ms (${(sent / floodMs * 1000).toFixed(0)}/s); B validated and rejected ${counted} (the first second: gossipsub re-scores once a heartbeat), then graylisted the flooder (score ${score.toFixed(0)}) and dropped the rest before validation; ${VALID}/${VALID} valid delivered; ping B max ${maxRtt.toFixed(0)} ms, median ${rtts.sort((x, y) => x - y)[rtts.length >> 1].toFixed(1)} ms`)
    expect(sent).to.equal(RATE * FLOOD_MS / 1000)
    expect(sent / floodMs * 1000).to.be.greaterThan(0.8 * RATE)
    expect(counted).to.be.greaterThan(0)
    // Below the graylist threshold (-80): its RPCs are dropped before validation.
    expect(score).to.be.lessThan(-80)
    expect(maxRtt).to.be.lessThan(1_000)
    expect(rejects(c)).to.equal(0)
  })

  it('a replay of an old message id to a node that restarted (gossipsub remembers nothing, the store does)', async () => {
    // 1. B and the replayer restart over their stores: gossipsub's seen ids, delivery records and
    // scores are gone on both. The replayer links to B again, and B to C.
    b = await restartGossipNode(b, tca)
    const m = await restartGossipNode(replayer, tca)
    extra.push(m)
    await link(m, b)
    await link(b, c)
    await waitMeshed([[m, b], [b, c]], 30_000).catch(() => {
      const state = (x: GossipNode, y: GossipNode): string => `${x.name}->${y.name}: in mesh ${x.pubsub.getMeshPeers(ANOMALY_TOPIC).includes(y.peerId)}, score ${x.pubsub.getScore(y.peerId)}, connections ${x.node.libp2p.getConnections(y.node.peerId).length}`
      throw new Error(`not meshed again after the restart: ${[state(m, b), state(b, m), state(b, c), state(c, b)].join('; ')}`)
    })
    // 2. The same signed envelope again: B's validator finds its id in the seen index it rebuilt
    // from the store, rejects it as REPLAYED and gossipsub penalises the sender.
    await expectRejected(m, original, 'REPLAYED')
  })
})
