import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { parseAttestationPolicy } from '../../src/attestation/policy.ts'
import { Swtpm, swtpmMissing } from '../../src/attestation/swtpm.ts'
import { Tpm } from '../../src/attestation/tpm.ts'
import { enrollNode } from '../../src/daemon/enroll/enroll-node.ts'
import { MIN_SCRYPT_LOG_N } from '../../src/identity/key-file.ts'
import { startService } from '../enrollment/harness.ts'
import { loopbackOptions, waitForEvent } from '../node/fixtures.ts'
import { startEnrolledNode } from './enrolled-node.ts'
import type { PeerAttestedEvent, PeerDemotedEvent } from '../../protocols/attest/index.ts'
import type { Service } from '../enrollment/harness.ts'

const NODE_PASS = 'node passphrase'
/** Short for the test (the default is 1 h); the clock of evidence ages is the real one. */
const INTERVAL_MS = 1_000

/**
 * End to end with a software TPM: two nodes, each with its own swtpm (started on a
 * free loopback port, stopped by pid), enroll with TPM quotes the CA verifies against its policy
 * file and pins, join a QUIC mesh, and attest each other after auth and then periodically. When
 * one node's PCR 16 is extended (`tpm2_pcrextend`), its next periodic attestation fails and the
 * other node demotes it, keeping the connection. The verifier uses the EK/AK the CA pinned.
 */
describe('e2e: nodes with swtpm TPMs enroll with quotes and pass periodic attestation until a PCR changes', function () {
  let base: string
  let svc: Service
  const swtpms: Swtpm[] = []
  const stops: Array<() => Promise<void>> = []

  before(async function () {
    // Skip rule: needs swtpm and tpm2-tools (Debian packages swtpm, tpm2-tools); CI installs them.
    if (await swtpmMissing() != null) { this.skip() }
    base = await mkdtemp(join(tmpdir(), 'dadm-e2e-tpm-'))
  })

  after(async () => {
    for (const stop of stops.reverse()) { await stop().catch(() => {}) }
    await svc?.cleanup()
    for (const s of swtpms) { await s.stop() }
    if (base != null) { await rm(base, { recursive: true, force: true }) }
  })

  async function tpmFor (name: string): Promise<Swtpm> {
    const state = join(base, `${name}-state`)
    await mkdir(state)
    const s = await Swtpm.start({ stateDir: state })
    swtpms.push(s)
    return s
  }

  it('enrolls with a verified quote, attests after auth and every interval, and is demoted after tpm2_pcrextend', async () => {
    // 1. two TPMs; the CA's policy is the golden PCRs 0-7 and 16 of a known-good (fresh) TPM
    const tpmA = await tpmFor('a')
    const tpmB = await tpmFor('b')
    const golden = await new Tpm({ tcti: tpmA.tcti, dir: join(base, 'probe') }).readPcrs([0, 1, 2, 3, 4, 5, 6, 7, 16])
    const policy = parseAttestationPolicy({ golden_sets: [golden.values], max_evidence_age_seconds: 60 })
    svc = await startService({ service: { attestationPolicy: policy } })
    const token = async (nodeId: string): Promise<string> => (await svc.service.createToken({ ttlMs: 600_000, uses: 1, nodeId }, svc.clock.now())).token

    // 2. both enroll through HTTP with a quote over the CA's nonce and their identity key
    const dirA = join(base, 'node-a')
    const dirB = join(base, 'node-b')
    const enrolledA = await enrollNode({ dir: dirA, caUrl: svc.url, caCertPem: svc.rootPem, token: await token('tpm-a'), nodeId: 'tpm-a', passphrase: NODE_PASS, scryptLogN: MIN_SCRYPT_LOG_N, attestTcti: tpmA.tcti })
    await enrollNode({ dir: dirB, caUrl: svc.url, caCertPem: svc.rootPem, token: await token('tpm-b'), nodeId: 'tpm-b', passphrase: NODE_PASS, scryptLogN: MIN_SCRYPT_LOG_N, attestTcti: tpmB.tcti })
    expect(enrolledA.node.config.attestation_policy).to.deep.equal(policy)
    const pinA = await svc.service.deviceOf('tpm-a')
    expect(pinA?.ekSpki).to.be.an.instanceOf(Uint8Array)

    // 3. both join a QUIC mesh; B checks peers against the TPMs the CA pinned
    const options = loopbackOptions('quic', { attest: { intervalMs: INTERVAL_MS } })
    const caPins = { get: async (nodeId: string) => svc.service.deviceOf(nodeId) }
    const A = await startEnrolledNode(dirA, { passphrase: NODE_PASS }, options)
    stops.push(A.stop)
    const B = await startEnrolledNode(dirB, { passphrase: NODE_PASS }, options, { pins: caPins })
    stops.push(B.stop)
    const aId = A.node.peerId.toString()

    // 4. after auth, B attests A; then again at the next interval
    const attested: PeerAttestedEvent[] = []
    B.node.addEventListener('peer:attested', (e) => { if (e.detail.peerId === aId) { attested.push(e.detail) } })
    const first = waitForEvent<PeerAttestedEvent>(B.node, 'peer:attested', d => d.peerId === aId, 20_000)
    await B.node.dial(A.node.getMultiaddrs()[0])
    expect(await first).to.deep.include({ nodeId: 'tpm-a', attested: true, type: 'tpm_quote' })
    await waitForEvent<PeerAttestedEvent>(B.node, 'peer:attested', d => d.peerId === aId && d.checkedAt > attested[0].checkedAt, 20_000)
    const row = B.node.peers.rows().find(r => r.peer_id === aId)
    expect(row?.attested).to.equal(true)
    expect(Date.parse(row?.attested_at ?? '')).to.be.greaterThan(0)
    expect(B.node.isDemoted(aId)).to.equal(false)

    // 5. A's PCR 16 is extended: A's next periodic quote no longer matches the golden set
    const demoted = waitForEvent<PeerDemotedEvent>(B.node, 'peer:demoted', d => d.peerId === aId, 20_000)
    await (A.tpm as Tpm).extendPcr(16, createHash('sha256').update('unexpected measurement').digest('hex'))
    const e = await demoted
    expect(e).to.deep.include({ nodeId: 'tpm-a', code: 'PCR_NOT_ALLOWED', action: 'demote' })

    // 6. demoted on B: flagged for gossip and DTN, shown in the peer table, still connected
    expect(B.node.isDemoted(aId)).to.equal(true)
    expect(B.node.peers.rows().find(r => r.peer_id === aId)?.attested).to.equal(false)
    expect(B.node.isAuthenticated(aId)).to.equal(true)
    // and A, whose own TPM was not touched, still passes on A's side of B
    expect(A.node.isDemoted(B.node.peerId)).to.equal(false)
  })
})
