/* eslint-disable jsdoc/check-indentation -- doc comments here hold indented lists and diagrams */
import { createPrivateKey } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { ANOMALY_TOPIC, AnomalyRefusedError, decodeEnvelope, encodeEnvelope, encodePayload, signAnomalyOffline, signEnvelope } from '../../../protocols/anomaly-gossip/index.ts'
import { gossipApiSource } from '../../../src/daemon/api/routes/gossip.ts'
import { originChain } from '../../../src/node/origin-chain.ts'
import { openStore } from '../../../src/store/mesh-store.ts'
import { NOW, createTestCa, enroll, eventually, revoke, waitForEvent } from '../fixtures.ts'
import { link, meshed, startGossipNode, stopAll, waitMeshed } from '../gossip-fixtures.ts'
import type { AnomalyValidationCode } from '../../../protocols/anomaly-gossip/index.ts'
import type { AnomalyRecord } from '../../../src/store/anomaly-store.ts'
import type { Enrolled, TestCa } from '../fixtures.ts'
import type { GossipNode } from '../gossip-fixtures.ts'

/**
 * Originator envelopes end to end over QUIC: every anomaly envelope carries its origin's
 * signature (a per-epoch gossip key, delegated by the identity key), gossipsub runs StrictNoSign,
 * and nodes forward what they were handed byte for byte.
 *
 *   M (a member holding a copy of A's host key) ─┐
 *   A (origin; takes pre-signed envelopes) ────── B ── C
 *   D (on-disk store, restarted) ─────────────────┘
 *
 * Q is a member that never runs a node here (a fusion service): it signs offline.
 */
describe('anomaly gossip: originator envelopes over QUIC', function () {
  this.timeout(120_000)
  let tca: TestCa
  let a: GossipNode, b: GossipNode, c: GossipNode, m: GossipNode
  let q: Enrolled
  const extra: GossipNode[] = []

  before(async () => {
    tca = await createTestCa('gossip-envelopes')
    a = await startGossipNode('a', await enroll(tca, 'node-a'), tca, { host: 110 })
    b = await startGossipNode('b', await enroll(tca, 'node-b'), tca, { host: 111 })
    c = await startGossipNode('c', await enroll(tca, 'node-c'), tca, { host: 112 })
    m = await startGossipNode('m', await enroll(tca, 'node-m'), tca, { host: 113 })
    q = await enroll(tca, 'fusion-q')
    await link(a, b)
    await link(b, c)
    await link(m, b)
    await waitMeshed([[a, b], [b, c], [m, b]])
  })

  after(async () => {
    await stopAll([a, b, c, m, ...extra])
    await tca?.close()
  })

  const rejects = (n: GossipNode, code?: AnomalyValidationCode): number => n.gossip.anomaly.validationMetrics.count(ANOMALY_TOPIC, 'reject', code)

  async function refusedCode (n: GossipNode, bytes: Uint8Array): Promise<string> {
    try {
      await n.gossip.anomaly.submit(bytes)
    } catch (err: any) {
      expect(err).to.be.instanceOf(AnomalyRefusedError)
      return err.code
    }
    throw new Error(`${n.name} accepted the envelope`)
  }

  it('a forged envelope made with a stolen host key but without the identity or epoch key is refused everywhere (BAD_ORIGIN_SIGNATURE)', async () => {
    // 1. A publishes; every node sees A's genuine delegation in it.
    const genuineAtM = waitForEvent<AnomalyRecord>(m.node, 'anomaly', r => r.origin === 'node-a', 10_000)
    const genuine = await a.node.publishAnomaly({ type: 'sha256', value: '1'.repeat(64) })
    const seen = decodeEnvelope(Buffer.from((await genuineAtM).envelope as string, 'base64'))
    // 2. M holds a copy of A's host key file (software Ed25519, the libp2p identity). It forges a
    // message in A's name: A's chain, A's delegation, other content, signed with the host key.
    const raw = a.enrolled.hostKey.raw
    const hostKey = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw.subarray(32)).toString('base64url'), d: Buffer.from(raw.subarray(0, 32)).toString('base64url') }, format: 'jwk' })
    const forged = encodeEnvelope(signEnvelope({
      ...seen,
      message_id: 'node-a:0b8f7a52-4d0e-4c77-9d38-7f6f0d7c5e11',
      payload: encodePayload({ type: 'sha256', value: 'f'.repeat(64) })
    }, { privateKey: hostKey, delegation: seen.delegation }))
    // 3. M gossips it: B refuses it with BAD_ORIGIN_SIGNATURE and forwards nothing to C.
    const before = rejects(b, 'BAD_ORIGIN_SIGNATURE')
    await m.pubsub.publish(ANOMALY_TOPIC, forged)
    await eventually(() => rejects(b, 'BAD_ORIGIN_SIGNATURE') === before + 1, 10_000)
    // Not forwarded: a valid message M sends after it reaches C through B, and C refused nothing.
    const marker = waitForEvent<AnomalyRecord>(c.node, 'anomaly', r => r.payload.value === 'marker-forged', 10_000)
    await m.node.publishAnomaly({ type: 'marker', value: 'marker-forged' })
    await marker
    expect(rejects(c)).to.equal(0)
    // 4. Handed to any node directly (pre-signed publication), it is refused the same way.
    for (const n of [a, b, c, m]) { expect(await refusedCode(n, forged), n.name).to.equal('BAD_ORIGIN_SIGNATURE') }
    // 5. Nobody stored it; A's genuine message is everywhere.
    for (const n of [a, b, c, m]) {
      expect(await n.node.anomalies.get('node-a:0b8f7a52-4d0e-4c77-9d38-7f6f0d7c5e11'), n.name).to.equal(undefined)
    }
    await eventually(() => c.node.anomalies.seen(genuine.messageId) != null, 10_000)
  })

  it('a pre-signed envelope from another member is accepted and forwarded byte-identical', async () => {
    // 1. Q (a fusion service) signs offline with its identity key; A takes the bytes.
    const { bytes, envelope } = await signAnomalyOffline(NOW, { type: 'ioc.domain', value: 'bad.example', meta: { rule: 'fusion-7' } }, { chain: originChain(q.chain), signer: q.credentials.signer })
    // What C's gossipsub delivers: the wire message's data, after validation.
    const onWire = waitForEvent<{ msg: { topic: string, data: Uint8Array } }>(c.pubsub, 'gossipsub:message', d => d.msg.topic === ANOMALY_TOPIC && d.msg.data.byteLength === bytes.byteLength, 10_000)
    const atC = waitForEvent<AnomalyRecord>(c.node, 'anomaly', r => r.message_id === envelope.message_id, 10_000)
    const published = await a.gossip.anomaly.submit(bytes)
    expect(published.messageId).to.equal(envelope.message_id)
    expect(published.record.origin).to.equal('fusion-q')
    expect(published.record.source).to.equal('submitted')
    // 2. C receives exactly the bytes Q signed, two hops away, and stores them.
    const record = await atC
    expect(record.origin).to.equal('fusion-q')
    expect(record.origin_peer_id).to.equal(q.peerId.toString())
    expect(Buffer.from(record.envelope as string, 'base64').equals(Buffer.from(bytes))).to.equal(true)
    expect(Buffer.from((await onWire).msg.data).equals(Buffer.from(bytes))).to.equal(true)
    // 3. Handing the same envelope again is refused as held, not gossiped twice.
    expect(await refusedCode(a, bytes)).to.equal('REPLAYED')
  })

  it('a tampered pre-signed envelope is refused (BAD_ORIGIN_SIGNATURE) and nothing is forwarded', async () => {
    const { envelope } = await signAnomalyOffline(NOW, { type: 'sha256', value: '2'.repeat(64) }, { chain: originChain(q.chain), signer: q.credentials.signer })
    // One field changed after signing: the payload, then the expiry.
    const payload = encodeEnvelope({ ...envelope, payload: encodePayload({ type: 'sha256', value: '3'.repeat(64) }) })
    const expiry = encodeEnvelope({ ...envelope, expiry: envelope.expiry + 60_000 })
    const before = rejects(b)
    expect(await refusedCode(a, payload)).to.equal('BAD_ORIGIN_SIGNATURE')
    expect(await refusedCode(a, expiry)).to.equal('BAD_ORIGIN_SIGNATURE')
    for (const n of [a, b, c]) { expect(await n.node.anomalies.get(envelope.message_id), n.name).to.equal(undefined) }
    expect(rejects(b)).to.equal(before)
  })

  it('a stored message re-verifies after a restart, and no longer does once its origin is revoked', async () => {
    const base = await mkdtemp(join(tmpdir(), 'dadm-envelopes-'))
    const dEnrolled = await enroll(tca, 'node-d')
    try {
      // 1. D, with an on-disk store, receives A's message.
      let store = await openStore(join(base, 'db'))
      let d = await startGossipNode('d', dEnrolled, tca, { host: 114, init: { store } })
      await link(d, b)
      await eventually(() => meshed(d, b), 20_000)
      const atD = waitForEvent<AnomalyRecord>(d.node, 'anomaly', r => r.origin === 'node-a', 10_000)
      const published = await a.node.publishAnomaly({ type: 'rule', value: 'restart-1' })
      await atD
      // 2. D stops and starts again over the same store.
      await d.node.stop()
      await store.close()
      store = await openStore(join(base, 'db'))
      d = await startGossipNode('d', dEnrolled, tca, { host: 114, init: { store } })
      extra.push(d)
      // 3. The stored envelope still proves its origin: chain, delegation, signature.
      const api = gossipApiSource(d.gossip, () => NOW)
      const v = await api.verify?.(published.messageId)
      expect(v).to.include({ message_id: published.messageId, valid: true, origin: 'node-a', origin_peer_id: a.peerId })
      // 4. A is revoked; D re-checks the same stored message against the new CRL.
      await revoke(tca, a.enrolled.serialHex)
      d.verifier.installCrl(tca.crls[tca.crls.length - 1], new Date(NOW))
      const after = await api.verify?.(published.messageId)
      expect(after).to.include({ valid: false, code: 'ORIGIN_REVOKED' })
      await d.node.stop()
      await store.close()
    } finally {
      await rm(base, { recursive: true, force: true })
    }
  })
})
