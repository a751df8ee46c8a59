import { expect } from 'aegir/chai'
import { parseAttestationPolicy } from '../../../src/attestation/policy.ts'
import { createTestCa, enroll, eventually, loopbackOptions, NOW, startNode, waitForEvent } from '../../node/fixtures.ts'
import type { EvidenceProver, PeerAttestedEvent, PeerDemotedEvent } from '../../../protocols/attest/index.ts'
import type { AttestationPolicy } from '../../../src/attestation/policy.ts'
import type { MeshNode, MeshNodeInit } from '../../../src/node/index.ts'
import type { Enrolled, TestCa } from '../../node/fixtures.ts'

/**
 * The attest service between real mesh nodes (QUIC on loopback, software identities, the fixed
 * test clock). Provers here answer `none` or misbehave on purpose; TPM quotes between nodes are
 * in test/e2e/swtpm-node.spec.ts.
 */
describe('attest protocol between mesh nodes', function () {
  let tca: TestCa
  let a: Enrolled
  let b: Enrolled
  const nodes: MeshNode[] = []

  before(async () => {
    tca = await createTestCa('attest')
    a = await enroll(tca, 'att-a')
    b = await enroll(tca, 'att-b')
  })

  afterEach(async () => {
    await Promise.all(nodes.splice(0).map(async n => { await n.stop() }))
  })

  after(async () => { await tca.close() })

  async function start (name: string, who: Enrolled, attestation: MeshNodeInit['attestation'], attest: Record<string, number> = {}): Promise<MeshNode> {
    const node = await startNode(name, who, tca, loopbackOptions('quic', { attest: { intervalMs: 60_000, ...attest } }), attestation != null ? { attestation } : {})
    nodes.push(node)
    return node
  }

  const strict: AttestationPolicy = parseAttestationPolicy({})
  const lenient: AttestationPolicy = parseAttestationPolicy({ accept_none: true })

  it('a peer without a TPM under a policy that wants one is demoted after auth, and stays connected', async () => {
    // 1. B verifies (policy), A answers `none`
    const A = await start('a', a, {})
    const B = await start('b', b, { policy: strict })
    const demoted = waitForEvent<PeerDemotedEvent>(B, 'peer:demoted')
    await B.dial(A.getMultiaddrs()[0])
    // 2. B demotes A with the verifier's code
    const e = await demoted
    expect(e).to.deep.include({ peerId: A.peerId.toString(), nodeId: 'att-a', code: 'NONE_NOT_ALLOWED', action: 'demote', checkedAt: NOW })
    expect(B.isDemoted(A.peerId)).to.equal(true)
    expect(B.attest.statusOf(A.peerId.toString())).to.deep.equal({ status: 'failed', checkedAt: NOW, code: 'NONE_NOT_ALLOWED' })
    // 3. still connected and authenticated; the row says attested false
    expect(B.isAuthenticated(A.peerId)).to.equal(true)
    const row = B.peers.rows().find(r => r.peer_id === A.peerId.toString())
    expect(row).to.include({ attested: false, attested_at: new Date(NOW).toISOString() })
    // 4. A, with no policy, checks nobody: B stays unknown there
    expect(A.isDemoted(B.peerId)).to.equal(false)
    expect(A.peers.rows().find(r => r.peer_id === B.peerId.toString())).to.include({ attested: 'unknown', attested_at: null })
  })

  it('`none` that the policy accepts: attested false, not demoted', async () => {
    const A = await start('a', a, {})
    const B = await start('b', b, { policy: lenient })
    const ok = waitForEvent<PeerAttestedEvent>(B, 'peer:attested')
    await B.dial(A.getMultiaddrs()[0])
    expect(await ok).to.deep.include({ peerId: A.peerId.toString(), attested: false, type: 'none' })
    expect(B.isDemoted(A.peerId)).to.equal(false)
    expect(B.attest.statusOf(A.peerId.toString()).status).to.equal('accepted-none')
  })

  it('repeats every interval', async () => {
    // (the test clock stands still: A's once-per-interval answer limit is off here)
    const A = await start('a', a, {}, { minProverIntervalMs: 0 })
    const B = await start('b', b, { policy: lenient }, { intervalMs: 200 })
    let count = 0
    B.addEventListener('peer:attested', () => { count++ })
    await B.dial(A.getMultiaddrs()[0])
    await eventually(() => count >= 3, 5_000)
  })

  it('a pinned TPM that answers `none` is DOWNGRADED, even where the policy accepts none', async () => {
    const A = await start('a', a, {})
    const pins = { get: (nodeId: string) => nodeId === 'att-a' ? { akSpki: new Uint8Array([1]), ekSpki: new Uint8Array([2]) } : undefined }
    const B = await start('b', b, { policy: lenient, pins })
    const demoted = waitForEvent<PeerDemotedEvent>(B, 'peer:demoted')
    await B.dial(A.getMultiaddrs()[0])
    expect((await demoted).code).to.equal('DOWNGRADED')
  })

  it('a prover whose TPM fails (PROVER_FAILED) or that never answers (TIMEOUT) is demoted', async () => {
    const failing: EvidenceProver = async () => { throw new Error('TPM gone') }
    const A = await start('a', a, { prover: failing })
    const B = await start('b', b, { policy: lenient })
    const demoted = waitForEvent<PeerDemotedEvent>(B, 'peer:demoted')
    await B.dial(A.getMultiaddrs()[0])
    expect((await demoted).code).to.equal('PROVER_FAILED')
    await Promise.all(nodes.splice(0).map(async n => { await n.stop() }))

    const stuck: EvidenceProver = async (req) => new Promise((_resolve, reject) => { req.signal.addEventListener('abort', () => { reject(new Error('aborted')) }) })
    const A2 = await start('a', a, { prover: stuck }, { roundTripMs: 300 })
    const B2 = await start('b', b, { policy: lenient }, { roundTripMs: 300 })
    const late = waitForEvent<PeerDemotedEvent>(B2, 'peer:demoted')
    await B2.dial(A2.getMultiaddrs()[0])
    expect((await late).code).to.equal('TIMEOUT')
  })

  it('a prover answers one verifier at most once per minProverIntervalMs; the verifier retries later and keeps the status', async () => {
    let quotes = 0
    const counting: EvidenceProver = async () => { quotes++; return { type: 'none' } }
    const A = await start('a', a, { prover: counting }, { minProverIntervalMs: 60_000 })
    const B = await start('b', b, { policy: lenient })
    const ok = waitForEvent<PeerAttestedEvent>(B, 'peer:attested')
    await B.dial(A.getMultiaddrs()[0])
    await ok
    const before = B.attest.statusOf(A.peerId.toString())
    // asked again at once: A refuses RATE_LIMITED, which says nothing about A's device
    const after = await B.attest.attestNow(A.peerId.toString())
    expect(after).to.deep.equal(before)
    expect(quotes).to.equal(1)
    expect(B.isDemoted(A.peerId)).to.equal(false)
  })

  it('with on_failure "close" a failed peer is disconnected, held off, and reported for revocation', async () => {
    const requests: PeerDemotedEvent[] = []
    const A = await start('a', a, {})
    const B = await start('b', b, { policy: parseAttestationPolicy({ on_failure: 'close' }), onRevocationRequest: (e) => { requests.push(e) } })
    const demoted = waitForEvent<PeerDemotedEvent>(B, 'peer:demoted')
    await B.dial(A.getMultiaddrs()[0])
    expect(await demoted).to.deep.include({ code: 'NONE_NOT_ALLOWED', action: 'close' })
    await eventually(() => B.libp2p.getConnections(A.peerId).length === 0)
    expect(requests.map(r => r.nodeId)).to.deep.equal(['att-a'])
    expect(B.blockList.get(A.peerId.toString())?.reason).to.equal('ATTESTATION_FAILED')
  })
})
