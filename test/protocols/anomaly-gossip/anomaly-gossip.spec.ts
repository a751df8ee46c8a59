import { TopicValidatorResult } from '@libp2p/gossipsub'
import { defaultLogger } from '@libp2p/logger'
import { expect } from 'aegir/chai'
import { MemoryLevel } from 'memory-level'
import { DefaultAnomalyGossip } from '../../../protocols/anomaly-gossip/anomaly-gossip.ts'
import { decodeEnvelope } from '../../../protocols/anomaly-gossip/codec.ts'
import { TOPIC } from '../../../protocols/anomaly-gossip/constants.ts'
import { AnomalyStore } from '../../../src/store/anomaly-store.ts'
import { wrapStore } from '../../../src/store/mesh-store.ts'
import { waitForEvent } from '../../node/fixtures.ts'
import { createGossipPki, encoded, envelopeFrom, HOUR, NOW, originChain, PAYLOAD, verifierFor } from './fixtures.ts'
import { FakePubSub, signedMessage } from './helpers.ts'
import type { GossipPki } from './fixtures.ts'
import type { AnomalyRecord } from '../../../src/store/anomaly-store.ts'
import type { MeshStore, RootDb } from '../../../src/store/mesh-store.ts'
import type { Enrolled } from '../../node/fixtures.ts'

interface Harness {
  service: DefaultAnomalyGossip
  pubsub: FakePubSub
  store: AnomalyStore
  mesh: MeshStore
}

async function harness (pki: GossipPki, self: Enrolled, clock: { now: number }): Promise<Harness> {
  const mesh = wrapStore(new MemoryLevel<string, any>({ keyEncoding: 'utf8', valueEncoding: 'json' }) as unknown as RootDb)
  const store = await AnomalyStore.open(mesh)
  const pubsub = new FakePubSub()
  const service = new DefaultAnomalyGossip({ peerId: self.peerId, logger: defaultLogger(), pubsub }, {
    store,
    verifier: verifierFor(pki.ca),
    origin: () => ({ chain: originChain(self), signer: self.credentials.signer }),
    now: () => clock.now,
    sweepIntervalMs: 0
  })
  return { service, pubsub, store, mesh }
}

/** What libp2p does to a service: start, then afterStart once every service has started. */
async function started (s: DefaultAnomalyGossip): Promise<void> {
  await s.start()
  await s.afterStart()
}

async function rejects (p: Promise<unknown>): Promise<any> {
  try { await p } catch (err) { return err }
  throw new Error('expected a rejection')
}

describe('anomaly gossip: service', function () {
  let pki: GossipPki
  const clock = { now: NOW }
  let a: Harness
  let b: Harness

  before(async () => { pki = await createGossipPki() })
  after(async () => { await pki?.close() })
  beforeEach(async () => {
    clock.now = NOW
    a = await harness(pki, pki.a, clock)
    b = await harness(pki, pki.b, clock)
    await started(a.service)
    await started(b.service)
  })
  afterEach(async () => {
    await a.service.stop()
    await b.service.stop()
    await a.mesh.close()
    await b.mesh.close()
  })

  it('installs its validator before it subscribes, and removes it on stop', async () => {
    expect(a.pubsub.validatorAtSubscribe.get(TOPIC)).to.equal(true)
    expect(a.pubsub.subscriptions.has(TOPIC)).to.equal(true)
    await a.service.beforeStop()
    await a.service.stop()
    expect(a.pubsub.topicValidators.has(TOPIC)).to.equal(false)
    expect(a.pubsub.subscriptions.has(TOPIC)).to.equal(false)
    await a.service.stop() // idempotent
  })

  it('publishes an envelope it also stores, which another node accepts, stores and hands to its agent', async () => {
    const published = await a.service.publish(PAYLOAD, { ttlMs: HOUR })
    expect(published.record.source).to.equal('local')
    expect((await a.store.get(published.messageId))?.payload).to.deep.equal(PAYLOAD)
    expect(a.pubsub.published).to.have.length(1)
    const bytes = a.pubsub.published[0].data
    const envelope = decodeEnvelope(bytes)
    expect(envelope.origin).to.equal('node-a')
    expect(envelope.message_id).to.match(/^node-a:[0-9a-f-]{36}$/)
    expect(envelope.expiry - envelope.timestamp).to.equal(HOUR)

    const delivered = waitForEvent<AnomalyRecord>(b.store, 'anomaly')
    // r relays a's message to b; gossipsub has checked a's signature.
    const result = await b.service.topicValidator(pki.r.peerId, signedMessage(TOPIC, bytes, pki.a.peerId))
    expect(result).to.equal(TopicValidatorResult.Accept)
    const r = await delivered
    expect([r.message_id, r.source, r.relay, r.origin_peer_id]).to.deep.equal(
      [published.messageId, 'gossip', pki.r.peerId.toString(), pki.a.peerId.toString()])
    expect(b.service.validationMetrics.count(TOPIC, 'accept')).to.equal(1)
  })

  it('rejects a replay of what it accepted, counts it, and stores nothing new', async () => {
    const bytes = encoded(envelopeFrom(pki.a))
    const stored = waitForEvent(b.store, 'anomaly')
    expect(await b.service.topicValidator(pki.r.peerId, signedMessage(TOPIC, bytes, pki.a.peerId))).to.equal(TopicValidatorResult.Accept)
    await stored
    let events = 0
    b.store.addEventListener('anomaly', () => { events++ })
    clock.now = NOW + 5 * 60_000
    expect(await b.service.topicValidator(pki.a.peerId, signedMessage(TOPIC, bytes, pki.a.peerId))).to.equal(TopicValidatorResult.Reject)
    expect(b.service.validationMetrics.count(TOPIC, 'reject', 'REPLAYED')).to.equal(1)
    expect(b.store.size).to.equal(1)
    expect(events).to.equal(0)
  })

  it('maps an ignore to Ignore and counts it under its code', async () => {
    const bytes = encoded(envelopeFrom(pki.a, { now: NOW - HOUR - 60_000, ttlMs: HOUR }))
    expect(await b.service.topicValidator(pki.r.peerId, signedMessage(TOPIC, bytes, pki.a.peerId))).to.equal(TopicValidatorResult.Ignore)
    expect(b.service.validationMetrics.snapshot()).to.deep.equal([{ topic: TOPIC, result: 'ignore', code: 'EXPIRED_IN_TRANSIT', count: 1 }])
  })

  it('refuses to publish before start, with a bad ttl, a bad payload, or a chain of another PeerId', async () => {
    await b.service.stop()
    expect((await rejects(b.service.publish(PAYLOAD))).code).to.equal('NOT_STARTED')
    await started(b.service)
    expect((await rejects(b.service.publish(PAYLOAD, { ttlMs: 0 }))).code).to.equal('INVALID_TTL')
    expect((await rejects(b.service.publish(PAYLOAD, { ttlMs: 25 * HOUR }))).code).to.equal('INVALID_TTL')
    const bad = await rejects(b.service.publish({ type: 'sha256', value: 'two\nlines' }))
    expect([bad.name, bad.code]).to.deep.equal(['EnvelopeError', 'BAD_PAYLOAD'])
    const wrong = new DefaultAnomalyGossip({ peerId: pki.b.peerId, logger: defaultLogger(), pubsub: new FakePubSub() }, {
      store: b.store, verifier: verifierFor(pki.ca), origin: () => ({ chain: originChain(pki.a) }), sweepIntervalMs: 0
    })
    await started(wrong)
    const err = await rejects(wrong.publish(PAYLOAD))
    expect([err.name, err.code]).to.deep.equal(['AnomalyGossipError', 'NO_CREDENTIALS'])
    await wrong.stop()
    expect(b.pubsub.published).to.have.length(0)
  })

  it('fails to start without a gossipsub service (NO_PUBSUB)', async () => {
    const lonely = new DefaultAnomalyGossip({ peerId: pki.b.peerId, logger: defaultLogger() }, {
      store: b.store, verifier: verifierFor(pki.ca), origin: () => ({ chain: originChain(pki.b) })
    })
    const err = await rejects(lonely.start())
    expect([err.name, err.code]).to.deep.equal(['AnomalyGossipError', 'NO_PUBSUB'])
  })
})
