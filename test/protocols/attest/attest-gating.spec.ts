import { expect } from 'aegir/chai'
import { ANOMALY_TOPIC } from '../../../protocols/anomaly-gossip/index.ts'
import { ATTEST_PROTOCOL, answerChallenge, noneProver } from '../../../protocols/attest/index.ts'
import { NOT_MEMBER_SCORE } from '../../../protocols/mesh-gossipsub/index.ts'
import { parseAttestationPolicy } from '../../../src/attestation/policy.ts'
import { NOW, createTestCa, enroll, eventually, waitForEvent } from '../../node/fixtures.ts'
import { waitMeshed } from '../../node/gossip-fixtures.ts'
import { linkMembers, startMember, stopMember } from './gating-fixtures.ts'
import type { Member } from './gating-fixtures.ts'
import type { EvidenceProver, PeerAttestedEvent, PeerDemotedEvent } from '../../../protocols/attest/index.ts'
import type { AttestationPolicy } from '../../../src/attestation/policy.ts'
import type { DeliveredBundle } from '../../../src/dtn/bundle-agent.ts'
import type { MeshNodeInit } from '../../../src/node/index.ts'
import type { AnomalyRecord } from '../../../src/store/anomaly-store.ts'
import type { TestCa } from '../../node/fixtures.ts'

/**
 * Attestation gating over real QUIC (loopback, the fixed test clock): under a policy that
 * enforces attestation, a peer is a gossip and bundle member only once it passed. While pending,
 * nothing is sent to it and nothing is taken from it; a peer that answers RATE_LIMITED (or resets
 * the attest stream) every time, or stays pending past the deadline, is failed. TPM quotes are in
 * attest-origin.spec.ts (swtpm); provers here answer `none`, stall, or misbehave on purpose.
 */

/** A policy every member may meet without a TPM (`none` accepted), with enforcement on. */
const enforcing = (extra: Record<string, unknown> = {}): AttestationPolicy => parseAttestationPolicy({ accept_none: true, enforce: true, ...extra })

describe('attestation gating under an enforcing policy (QUIC)', function () {
  this.timeout(120_000)
  let tca: TestCa
  const running: Member[] = []
  let host = 40

  before(async () => { tca = await createTestCa('attest-gating') })
  afterEach(async () => {
    await Promise.all(running.splice(0).map(stopMember))
  })
  after(async () => { await tca.close() })

  async function member (name: string, attestation: MeshNodeInit['attestation'] = {}, attest: Record<string, number> = {}): Promise<Member> {
    const m = await startMember(tca, await enroll(tca, name), host++, attestation, attest)
    running.push(m)
    return m
  }

  it('a pending peer is not forwarded to, and nothing is accepted from it (gossip: not a mesh member; bundles: NOT_ATTESTED)', async () => {
    // 1. A's prover stalls until released: B (enforcing) keeps A pending. C answers `none` at once.
    let release: () => void = () => {}
    const released = new Promise<void>(resolve => { release = resolve })
    const stalling: EvidenceProver = async (req) => {
      await new Promise<void>((resolve, reject) => {
        void released.then(resolve)
        req.signal.addEventListener('abort', () => { reject(new Error('aborted')) })
      })
      return { type: 'none' }
    }
    const a = await member('gate-a', { prover: stalling })
    const b = await member('gate-b', { policy: enforcing({ pending_deadline_seconds: 300 }) }, { roundTripMs: 60_000 })
    const c = await member('gate-c')
    const cAttested = waitForEvent<PeerAttestedEvent>(b.node, 'peer:attested', d => d.nodeId === 'gate-c')
    await linkMembers(c, b)
    await cAttested
    await waitMeshed([[b, c]])
    await linkMembers(a, b)

    // 2. On B, A is authenticated but pending: no member, scored far below every threshold, not in B's mesh.
    expect(b.node.attest.statusOf(a.peerId)).to.deep.equal({ status: 'unknown' })
    expect(b.node.attest.isMember(a.peerId)).to.equal(false)
    expect(b.node.attest.isMember(c.peerId)).to.equal(true)
    await eventually(() => b.pubsub.getScore(a.peerId) === NOT_MEMBER_SCORE, 5_000)
    expect(b.pubsub.getMeshPeers(ANOMALY_TOPIC)).to.not.include(a.peerId)

    // 3. Nothing forwarded to A: B's anomaly goes to C alone; B's bundle for A stays with B (C gets its own).
    const atC = waitForEvent<AnomalyRecord>(c.node, 'anomaly', r => r.origin === 'gate-b')
    const fromB = await b.node.publishAnomaly({ type: 'marker', value: 'b-while-a-pending' })
    expect(fromB.recipients).to.equal(1)
    await atC
    const toA = await b.bundles.send({ destination: 'gate-a', ttlSec: 600, payload: Buffer.from('for a') })
    const toC = waitForEvent<DeliveredBundle>(c.bundles, 'bundle:delivered', d => d.source === 'gate-b')
    await b.bundles.send({ destination: 'gate-c', ttlSec: 600, payload: Buffer.from('for c') })
    await toC
    expect(await a.node.anomalies.get(fromB.messageId)).to.equal(undefined)
    expect((await a.bundles.list()).inbox).to.have.length(0)
    expect((await a.bundles.list()).held.map(h => h.bundle_id)).to.not.include(toA.bundleId)

    // 4. Nothing accepted from A: its bundle stream to B is reset (NOT_ATTESTED), nothing stored at
    // B; its gossip is dropped (B scores it NOT_MEMBER_SCORE, below the graylist threshold).
    const fromA = await a.node.publishAnomaly({ type: 'marker', value: 'a-while-pending' })
    const aBundle = await a.bundles.send({ destination: 'gate-b', ttlSec: 600, payload: Buffer.from('from a') })
    await eventually(() => b.warnings.some(w => w.code === 'NOT_ATTESTED' && w.peer_id === a.peerId), 10_000)
    const atB = await b.bundles.list()
    expect(atB.inbox.filter(r => r.source === 'gate-a')).to.have.length(0)
    expect(atB.held.filter(r => r.source === 'gate-a')).to.have.length(0)
    expect(await b.node.anomalies.get(fromA.messageId)).to.equal(undefined)
    expect(b.gossip.anomaly.validationMetrics.count(ANOMALY_TOPIC, 'accept')).to.equal(0)

    // 5. Control: once A passes, the same paths work (the gating, not the setup, held them back).
    const passed = waitForEvent<PeerAttestedEvent>(b.node, 'peer:attested', d => d.nodeId === 'gate-a')
    release()
    await passed
    expect(b.node.attest.isMember(a.peerId)).to.equal(true)
    const aGot = waitForEvent<DeliveredBundle>(a.bundles, 'bundle:delivered', d => d.bundleId === toA.bundleId, 20_000)
    const bGot = waitForEvent<DeliveredBundle>(b.bundles, 'bundle:delivered', d => d.bundleId === aBundle.bundleId, 20_000)
    await Promise.all([aGot, bGot])
    await eventually(() => b.pubsub.getScore(a.peerId) >= 0, 10_000)
    const later = waitForEvent<AnomalyRecord>(b.node, 'anomaly', r => r.origin === 'gate-a' && r.payload.value === 'a-attested', 20_000)
    // (flood publishing: no mesh needed; B pruned A's GRAFTs while it was pending, with back-off)
    await a.node.publishAnomaly({ type: 'marker', value: 'a-attested' })
    await later
  })

  it('a peer that answers RATE_LIMITED every time is demoted after max_transient_failures tries (RATE_LIMITED)', async () => {
    const a = await member('rl-a')
    let asked = 0
    // A's attest handler refuses every challenge as "too soon"
    await a.node.libp2p.unhandle(ATTEST_PROTOCOL)
    await a.node.libp2p.handle(ATTEST_PROTOCOL, async (stream) => {
      asked++
      await answerChallenge(stream, { prover: noneProver, identitySpki: () => a.enrolled.credentials.signer.spki, refuse: 'RATE_LIMITED', signal: AbortSignal.timeout(5_000) }).catch(() => {})
    })
    const b = await member('rl-b', { policy: enforcing({ max_transient_failures: 3, pending_deadline_seconds: 300 }) }, { retryMs: 50 })
    const demoted = waitForEvent<PeerDemotedEvent>(b.node, 'peer:demoted', d => d.nodeId === 'rl-a')
    await linkMembers(a, b)
    expect(await demoted).to.deep.include({ peerId: a.peerId, code: 'RATE_LIMITED', action: 'demote', checkedAt: NOW, serialHex: a.enrolled.serialHex })
    expect(asked).to.equal(3)
    expect(b.node.attest.statusOf(a.peerId)).to.deep.equal({ status: 'failed', checkedAt: NOW, code: 'RATE_LIMITED' })
    expect(b.node.attest.isMember(a.peerId)).to.equal(false)
    await eventually(() => b.pubsub.getScore(a.peerId) === NOT_MEMBER_SCORE, 5_000)
    // demoted, not closed (on_failure demote): still authenticated, and nothing more is asked until the interval
    expect(b.node.isAuthenticated(a.peerId)).to.equal(true)
  })

  it('a peer that resets the attest stream every time is demoted after max_transient_failures tries (CLOSED)', async () => {
    const a = await member('rst-a')
    let asked = 0
    await a.node.libp2p.unhandle(ATTEST_PROTOCOL)
    await a.node.libp2p.handle(ATTEST_PROTOCOL, (stream) => {
      asked++
      stream.abort(new Error('reset on purpose'))
    })
    const b = await member('rst-b', { policy: enforcing({ max_transient_failures: 2, pending_deadline_seconds: 300 }) }, { retryMs: 50 })
    const demoted = waitForEvent<PeerDemotedEvent>(b.node, 'peer:demoted', d => d.nodeId === 'rst-a')
    await linkMembers(a, b)
    expect(await demoted).to.deep.include({ code: 'CLOSED', action: 'demote' })
    expect(asked).to.equal(2)
    expect(b.node.attest.isMember(a.peerId)).to.equal(false)
  })

  it('a peer still pending at the deadline is failed with PENDING_TIMEOUT, and closed when the policy says close', async () => {
    const stuck: EvidenceProver = async (req) => new Promise((_resolve, reject) => { req.signal.addEventListener('abort', () => { reject(new Error('aborted')) }) })
    const a = await member('pt-a', { prover: stuck })
    const b = await member('pt-b', { policy: enforcing({ pending_deadline_seconds: 1, on_failure: 'close' }) }, { roundTripMs: 60_000 })
    const demoted = waitForEvent<PeerDemotedEvent>(b.node, 'peer:demoted', d => d.nodeId === 'pt-a')
    await linkMembers(a, b)
    expect(await demoted).to.deep.include({ code: 'PENDING_TIMEOUT', action: 'close' })
    await eventually(() => b.node.libp2p.getConnections(a.node.peerId).length === 0, 10_000)
    expect(b.node.attest.isMember(a.peerId)).to.equal(false)
  })

  it('without enforcement a pending peer is a member as before', async () => {
    const stuck: EvidenceProver = async (req) => new Promise((_resolve, reject) => { req.signal.addEventListener('abort', () => { reject(new Error('aborted')) }) })
    const a = await member('ne-a', { prover: stuck })
    const b = await member('ne-b', { policy: parseAttestationPolicy({ accept_none: true, enforce: false }) }, { roundTripMs: 60_000 })
    await linkMembers(a, b)
    expect(b.node.attest.statusOf(a.peerId).status).to.equal('unknown')
    expect(b.node.attest.isMember(a.peerId)).to.equal(true)
  })
})
