import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { expect } from 'aegir/chai'
import { ANOMALY_TOPIC } from '../../../protocols/anomaly-gossip/index.ts'
import { tpmProver } from '../../../protocols/attest/index.ts'
import { attestationPolicyId, parseAttestationPolicy } from '../../../src/attestation/policy.ts'
import { Swtpm, swtpmMissing } from '../../../src/attestation/swtpm.ts'
import { Tpm } from '../../../src/attestation/tpm.ts'
import { createBundle } from '../../../src/dtn/create-bundle.ts'
import { ATTESTED_DEVICE_OID, attestedDeviceOf, decodeAttestedDevice, encodeAttestedDevice } from '../../../src/pki/attested-extension.ts'
import { parseCertificate } from '../../../src/pki/certificate.ts'
import { derToPem } from '../../../src/util/pem.ts'
import { NOW, createTestCa, eventually, waitForEvent } from '../../node/fixtures.ts'
import { enrollWith, linkMembers, startMember, stopMember, ticking } from './gating-fixtures.ts'
import type { Member } from './gating-fixtures.ts'
import type { PeerAttestedEvent } from '../../../protocols/attest/index.ts'
import type { AttestationPolicy } from '../../../src/attestation/policy.ts'
import type { AnomalyRecord } from '../../../src/store/anomaly-store.ts'
import type { Enrolled, TestCa } from '../../node/fixtures.ts'

const run = promisify(execFile)

describe('attested-device certificate extension', () => {
  let tca: TestCa
  before(async () => { tca = await createTestCa('attested-ext') })
  after(async () => { await tca.close() })

  it('is issued non-critical with the policy id and time, read back by our parser and by openssl', async () => {
    const policy = parseAttestationPolicy({})
    const at = NOW - 3600_000
    const n = await enrollWith(tca, 'ext-node', { policyId: attestationPolicyId(policy), attestedAt: at })
    const cert = parseCertificate(n.chain[0])
    expect(cert.extensions.get(ATTESTED_DEVICE_OID)?.critical).to.equal(false)
    const v = attestedDeviceOf(cert)
    expect(Buffer.from(v?.policyId ?? []).toString('hex')).to.equal(Buffer.from(attestationPolicyId(policy)).toString('hex'))
    expect(v?.attestedAt).to.equal(at)
    // an outside checker: openssl lists the private OID as a non-critical extension
    const dir = await mkdtemp(join(tmpdir(), 'dadm-ext-'))
    try {
      await writeFile(join(dir, 'c.pem'), derToPem(n.chain[0], 'CERTIFICATE'))
      const { stdout } = await run('openssl', ['x509', '-in', join(dir, 'c.pem'), '-noout', '-text'])
      expect(stdout).to.include(`${ATTESTED_DEVICE_OID}:`)
      expect(stdout).to.not.match(new RegExp(`${ATTESTED_DEVICE_OID.replace(/\./g, '\\.')}: critical`))
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
    // a certificate issued without a passing quote carries none
    expect(attestedDeviceOf(parseCertificate((await enrollWith(tca, 'plain-node')).chain[0]))).to.equal(undefined)
  })

  it('refuses a malformed value with MALFORMED_EXTENSION', () => {
    const good = encodeAttestedDevice({ policyId: new Uint8Array(16), attestedAt: NOW })
    expect(decodeAttestedDevice(good).attestedAt).to.equal(NOW)
    for (const bad of [good.subarray(0, good.length - 1), Uint8Array.from([0x30, 0x00]), Uint8Array.from([0x04, 0x01, 0x00])]) {
      expect(() => decodeAttestedDevice(bad)).to.throw().with.property('code', 'MALFORMED_EXTENSION')
    }
  })
})

/**
 * Under an enforcing policy (TPM required), gossip and bundles are taken only from origins whose
 * certificate carries the attested-device extension. A real software TPM (swtpm) backs the relay,
 * so the verifier attests it with a real quote; the origin is a member with a valid certificate
 * that never passed a quote at the CA.
 * Topology: O (no extension) - R (swtpm, extension; no policy) - B (enforcing, TPM required).
 */
describe('an unattested origin under an enforcing policy (swtpm, QUIC)', function () {
  this.timeout(120_000)
  let tca: TestCa
  let base: string
  let swtpm: Swtpm | undefined
  const running: Member[] = []

  before(async function () {
    // Skip rule: needs swtpm and tpm2-tools (Debian packages swtpm, tpm2-tools); CI installs them.
    if (await swtpmMissing() != null) { this.skip() }
    tca = await createTestCa('attest-origin')
    base = await mkdtemp(join(tmpdir(), 'dadm-origin-'))
  })

  after(async () => {
    await Promise.all(running.splice(0).map(stopMember))
    await swtpm?.stop()
    await tca?.close()
    if (base != null) { await rm(base, { recursive: true, force: true }) }
  })

  it('gossip whose origin certificate lacks the extension is refused (ORIGIN_NOT_ATTESTED), and so is its bundle', async () => {
    // 1. R's TPM and the policy: the golden PCRs 0-7 of that TPM, TPM required, enforcement on.
    await mkdir(join(base, 'state'))
    swtpm = await Swtpm.start({ stateDir: join(base, 'state') })
    const tpm = new Tpm({ tcti: swtpm.tcti, dir: join(base, 'r-tpm') })
    const golden = await tpm.readPcrs([0, 1, 2, 3, 4, 5, 6, 7])
    const policy: AttestationPolicy = parseAttestationPolicy({ golden_sets: [golden.values], max_evidence_age_seconds: 60 })
    expect(policy).to.include({ enforce: true, accept_none: false })
    const attested = { policyId: attestationPolicyId(policy), attestedAt: NOW - 3600_000 }

    // 2. R holds a certificate with the extension and quotes with its TPM; O's has none.
    const r = await startMember(tca, await enrollWith(tca, 'org-r', attested), 60, { prover: tpmProver(tpm) })
    running.push(r)
    const oEnrolled: Enrolled = await enrollWith(tca, 'org-o')
    const o = await startMember(tca, oEnrolled, 61)
    running.push(o)
    const b = await startMember(tca, await enrollWith(tca, 'org-b', attested), 62, { policy })
    running.push(b)
    const rPassed = waitForEvent<PeerAttestedEvent>(b.node, 'peer:attested', d => d.nodeId === 'org-r', 30_000)
    await linkMembers(r, b)
    expect(await rPassed).to.deep.include({ attested: true, type: 'tpm_quote' })
    await linkMembers(o, r)
    await eventually(() => b.node.attest.isMember(r.peerId) && b.pubsub.getScore(r.peerId) >= 0, 10_000)

    // 3. O publishes; R (no policy) accepts and relays it; B refuses it as ORIGIN_NOT_ATTESTED.
    const atR = waitForEvent<AnomalyRecord>(r.node, 'anomaly', rec => rec.origin === 'org-o')
    const fromO = await o.node.publishAnomaly({ type: 'marker', value: 'unattested origin' })
    await atR
    await eventually(() => b.gossip.anomaly.validationMetrics.count(ANOMALY_TOPIC, 'reject', 'ORIGIN_NOT_ATTESTED') === 1, 10_000)
    expect(await b.node.anomalies.get(fromO.messageId)).to.equal(undefined)
    expect(b.gossip.anomaly.validationMetrics.count(ANOMALY_TOPIC, 'accept')).to.equal(0)

    // 4. Control: R's own anomaly (its certificate has the extension) takes the same path and is accepted.
    const atB = waitForEvent<AnomalyRecord>(b.node, 'anomaly', rec => rec.origin === 'org-r')
    await r.node.publishAnomaly({ type: 'marker', value: 'attested origin' })
    await atB

    // 5. Bundles: O's bundle is refused by B's agent (ORIGIN_NOT_ATTESTED) and nothing is stored; R's is taken.
    const oBundle = await createBundle({ destination: 'org-b', ttlSec: 600, payload: Buffer.from('from o') }, { signer: oEnrolled.credentials.signer, chain: oEnrolled.chain, createdAt: ticking(), sequence: 1 })
    await expect(b.bundles.agent.receive(oBundle.parts[0].bytes, { from: 'org-r' })).to.eventually.be.rejected.with.property('code', 'ORIGIN_NOT_ATTESTED')
    const listing = await b.bundles.list()
    expect(listing.inbox.filter(x => x.source === 'org-o')).to.have.length(0)
    expect(listing.held.filter(x => x.source === 'org-o')).to.have.length(0)
    const rBundle = await createBundle({ destination: 'org-b', ttlSec: 600, payload: Buffer.from('from r') }, { signer: r.enrolled.credentials.signer, chain: r.enrolled.chain, createdAt: ticking(), sequence: 1 })
    await b.bundles.agent.receive(rBundle.parts[0].bytes, { from: 'org-r' })
    expect((await b.bundles.list()).inbox.filter(x => x.source === 'org-r')).to.have.length(1)
  })
})
