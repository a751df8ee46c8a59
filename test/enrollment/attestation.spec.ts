import { createPublicKey } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { evidenceToJson, newNonce } from '../../src/attestation/evidence.ts'
import { DEFAULT_ATTESTATION_POLICY, parseAttestationPolicy } from '../../src/attestation/policy.ts'
import { swtpmMissing } from '../../src/attestation/swtpm.ts'
import { MeshCa } from '../../src/ca/index.ts'
import { enrollNode } from '../../src/daemon/enroll/enroll-node.ts'
import { ATTESTATION_POLICY_FILE } from '../../src/enrollment/attestation-policy-file.ts'
import { NonceStore } from '../../src/enrollment/nonce-store.ts'
import { MIN_SCRYPT_LOG_N } from '../../src/identity/key-file.ts'
import { startTestTpm } from '../attestation/fixtures.ts'
import { call, nodeCsr, PASS, startService } from './harness.ts'
import type { Service } from './harness.ts'
import type { AttestationPolicy } from '../../src/attestation/policy.ts'
import type { Tpm } from '../../src/attestation/tpm.ts'
import type { TestTpm } from '../attestation/fixtures.ts'

/** TPM attestation, enrollment side: nonces, TPM quotes checked per policy, the TPM pinned per node_id. */

function expectError (r: { status: number, json: any }, status: number, code: string): void {
  expect({ status: r.status, code: r.json?.error?.code }).to.deep.equal({ status, code })
}

function spkiOf (keyPem: string): Uint8Array {
  return new Uint8Array(createPublicKey(keyPem).export({ format: 'der', type: 'spki' }))
}

/** A fresh nonce from the service, and the quote over it and `spki` by `tpm`, as a request's evidence. */
async function evidence (svc: Service, tpm: Tpm, spki: Uint8Array): Promise<Record<string, unknown>> {
  const r = await call(svc, 'GET', '/v1/enroll/nonce')
  expect(r.status).to.equal(200)
  const nonce = new Uint8Array(Buffer.from(r.json.nonce, 'base64'))
  return evidenceToJson(await tpm.quote({ nonce, identitySpki: spki, pcrs: r.json.pcrs, bank: r.json.pcr_bank }))
}

async function token (svc: Service, nodeId?: string): Promise<string> {
  return (await svc.service.createToken({ ttlMs: 600_000, uses: 1, ...(nodeId != null ? { nodeId } : {}) }, svc.clock.now())).token
}

/** A replacement token for `nodeId`: the one way to enroll again a node_id that holds a live certificate. */
async function replacement (svc: Service, nodeId: string): Promise<string> {
  return (await svc.service.createToken({ ttlMs: 600_000, uses: 1, nodeId, replace: true }, svc.clock.now())).token
}

describe('enrollment nonces (NonceStore)', () => {
  it('hands out single-use nonces that expire, and stays bounded', () => {
    const store = new NonceStore({ ttlMs: 1000, maxEntries: 3 })
    const a = store.issue(0)
    expect(a.nonce).to.have.length(32)
    expect(store.take(a.nonce, 10)).to.deep.equal({ issuedAt: 0 })
    // 1. spent: a second take fails
    expect(store.take(a.nonce, 20)).to.equal(undefined)
    // 2. expired
    const b = store.issue(0)
    expect(store.take(b.nonce, 1000)).to.equal(undefined)
    // 3. never issued
    expect(store.take(newNonce(), 0)).to.equal(undefined)
    // 4. bounded: the oldest goes first
    const c = [store.issue(100), store.issue(101), store.issue(102), store.issue(103)]
    expect(store.size).to.equal(3)
    expect(store.take(c[0].nonce, 104)).to.equal(undefined)
    expect(store.take(c[3].nonce, 104)).to.deep.equal({ issuedAt: 103 })
  })
})

describe('enrollment with TPM attestation (swtpm, real HTTP service)', function () {
  let A: TestTpm
  let B: TestTpm
  let svc: Service
  let first: Service | undefined
  let policy: AttestationPolicy

  before(async function () {
    // Skip rule: needs swtpm and tpm2-tools (Debian packages swtpm, tpm2-tools); CI installs them.
    if (await swtpmMissing() != null) { this.skip() }
    A = await startTestTpm()
    B = await startTestTpm()
    // The policy pins PCRs 0-7 and 16 of a fresh swtpm (all zero): a golden set, as an operator would
    // record from a known-good machine.
    const pcrs = await A.tpm.readPcrs([0, 1, 2, 3, 4, 5, 6, 7, 16])
    policy = parseAttestationPolicy({ golden_sets: [pcrs.values] })
    // The policy comes from DIR/attestation-policy.json: create the CA, write the file, serve it.
    first = await startService()
    const dir = first.dir
    await first.stop()
    await writeFile(join(dir, ATTESTATION_POLICY_FILE), JSON.stringify(policy))
    svc = await startService({ dir })
  })

  after(async () => {
    await svc?.cleanup()
    await first?.cleanup()
    await A?.stop()
    await B?.stop()
  })

  it('GET /v1/enroll/nonce gives a fresh nonce and the PCRs the policy wants quoted', async () => {
    const r1 = await call(svc, 'GET', '/v1/enroll/nonce')
    const r2 = await call(svc, 'GET', '/v1/enroll/nonce')
    expect(r1.status).to.equal(200)
    expect(Buffer.from(r1.json.nonce, 'base64')).to.have.length(32)
    expect(r1.json.nonce).to.not.equal(r2.json.nonce)
    expect(r1.json.pcr_bank).to.equal('sha256')
    expect(r1.json.pcrs).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 16])
    expect(r1.headers['cache-control']).to.equal('no-store')
  })

  it('a node with a TPM enrolls with a quote the CA verifies; the CA pins its EK and AK and hands out the policy', async () => {
    const dir = join(svc.base, 'tpm-node-1')
    const { node } = await enrollNode({
      dir, caUrl: svc.url, caCertPem: svc.rootPem, token: await token(svc), nodeId: 'tpm-node-1', passphrase: 'node pass', scryptLogN: MIN_SCRYPT_LOG_N, attestTcti: A.swtpm.tcti
    })
    expect(node.attestation).to.deep.equal({ tcti: A.swtpm.tcti, dir: 'tpm' })
    expect(node.config.attestation_policy).to.deep.equal(policy)
    const pin = await svc.service.deviceOf('tpm-node-1')
    expect(Buffer.from(pin?.ekSpki ?? []).equals(Buffer.from(A.ek.spki))).to.equal(true)
    // the node's AK lives in NODEDIR/tpm: it is the AK the CA pinned
    const akPub = await readFile(join(dir, 'tpm', 'ak.pub'))
    expect(akPub.length).to.be.greaterThan(0)
    const audit = await svc.ca.store.auditLog()
    expect(audit.some(e => e.action === 'device-pin' && e.fields.node_id === 'tpm-node-1')).to.equal(true)
  })

  it('no evidence while the policy wants a TPM: 403 ATTESTATION_REQUIRED', async () => {
    const csr = await nodeCsr('no-tpm')
    expectError(await call(svc, 'POST', '/v1/enroll', { token: await token(svc), csr: csr.csrPem }), 403, 'ATTESTATION_REQUIRED')
    expectError(await call(svc, 'POST', '/v1/enroll', { token: await token(svc), csr: csr.csrPem, attestation: { type: 'none' } }), 403, 'ATTESTATION_REQUIRED')
  })

  it('wrong nonce (one the CA never issued): 403 ATTESTATION_NONCE_INVALID, and the token is not spent', async () => {
    const csr = await nodeCsr('wrong-nonce')
    const ev = evidenceToJson(await A.tpm.quote({ nonce: newNonce(), identitySpki: spkiOf(csr.keyPem) }))
    const t = await token(svc)
    expectError(await call(svc, 'POST', '/v1/enroll', { token: t, csr: csr.csrPem, attestation: ev }), 403, 'ATTESTATION_NONCE_INVALID')
    // a real nonce, but the quote binds another identity key than the CSR's: same code
    const other = await nodeCsr('wrong-nonce')
    const evOther = await evidence(svc, A.tpm, spkiOf(other.keyPem))
    expectError(await call(svc, 'POST', '/v1/enroll', { token: t, csr: csr.csrPem, attestation: evOther }), 403, 'ATTESTATION_NONCE_INVALID')
    // the token still works with good evidence
    const good = await evidence(svc, A.tpm, spkiOf(csr.keyPem))
    expect((await call(svc, 'POST', '/v1/enroll', { token: t, csr: csr.csrPem, attestation: good })).status).to.equal(200)
  })

  it('replayed quote: the same evidence sent again is 403 ATTESTATION_REPLAYED', async () => {
    const csr = await nodeCsr('replay-1')
    const ev = await evidence(svc, B.tpm, spkiOf(csr.keyPem))
    expect((await call(svc, 'POST', '/v1/enroll', { token: await token(svc), csr: csr.csrPem, attestation: ev })).status).to.equal(200)
    expectError(await call(svc, 'POST', '/v1/enroll', { token: await replacement(svc, 'replay-1'), csr: csr.csrPem, attestation: ev }), 403, 'ATTESTATION_REPLAYED')
  })

  it('PCR mismatch: a quote whose PCRs match no golden set is 403 ATTESTATION_PCR_MISMATCH', async () => {
    const strict = await startService({ service: { attestationPolicy: parseAttestationPolicy({ pcr_values: { 16: ['ab'.repeat(32)] } }) } })
    try {
      const csr = await nodeCsr('pcr-bad')
      const ev = await evidence(strict, A.tpm, spkiOf(csr.keyPem))
      expectError(await call(strict, 'POST', '/v1/enroll', { token: await token(strict), csr: csr.csrPem, attestation: ev }), 403, 'ATTESTATION_PCR_MISMATCH')
    } finally {
      await strict.cleanup()
    }
  })

  it('the same node_id from a different TPM is 403 ATTESTATION_DEVICE_MISMATCH (enroll, rotate, and a fall back to none)', async () => {
    // 1. dev-1 enrolls with TPM A; the CA pins A
    const csr = await nodeCsr('dev-1')
    const first = await call(svc, 'POST', '/v1/enroll', { token: await token(svc), csr: csr.csrPem, attestation: await evidence(svc, A.tpm, spkiOf(csr.keyPem)) })
    expect(first.status).to.equal(200)
    // 2. enrolling dev-1 again from TPM B (a valid quote of another device)
    const again = await nodeCsr('dev-1')
    // (with a replacement token: even the operator's replacement does not move a node_id to another TPM)
    expectError(await call(svc, 'POST', '/v1/enroll', { token: await replacement(svc, 'dev-1'), csr: again.csrPem, attestation: await evidence(svc, B.tpm, spkiOf(again.keyPem)) }), 403, 'ATTESTATION_DEVICE_MISMATCH')
    // 3. with no TPM at all (a node_id pinned to a TPM may not drop it)
    expectError(await call(svc, 'POST', '/v1/enroll', { token: await replacement(svc, 'dev-1'), csr: again.csrPem, attestation: { type: 'none' } }), 403, 'ATTESTATION_DEVICE_MISMATCH')
    // 4. rotation with the current certificate: from TPM B refused, from TPM A accepted
    const client = { certPem: first.json.certificate + first.json.chain, keyPem: csr.keyPem }
    const next = await nodeCsr('dev-1')
    const rotB = await call(svc, 'POST', '/v1/rotate', { csr: next.csrPem, current_cert_serial: first.json.serial, attestation: await evidence(svc, B.tpm, spkiOf(next.keyPem)) }, { client })
    expectError(rotB, 403, 'ATTESTATION_DEVICE_MISMATCH')
    const rotA = await call(svc, 'POST', '/v1/rotate', { csr: next.csrPem, current_cert_serial: first.json.serial, attestation: await evidence(svc, A.tpm, spkiOf(next.keyPem)) }, { client })
    expect(rotA.status, rotA.body.toString()).to.equal(200)
  })

  it('an AK that is not a child of the EK sent with it is 403 ATTESTATION_DEVICE_MISMATCH', async () => {
    const csr = await nodeCsr('ak-not-bound')
    const ev = await evidence(svc, A.tpm, spkiOf(csr.keyPem))
    // TPM A's quote and AK, but TPM B's EK: the TPM-signed qualifiedSigner names A's EK
    ev.ek_public = Buffer.from(B.ek.public).toString('base64')
    expectError(await call(svc, 'POST', '/v1/enroll', { token: await token(svc), csr: csr.csrPem, attestation: ev }), 403, 'ATTESTATION_DEVICE_MISMATCH')
  })

  it('an operator can forget a pinned TPM (replaced hardware); the node then enrolls from the new one', async () => {
    const csr = await nodeCsr('swap-1')
    expect((await call(svc, 'POST', '/v1/enroll', { token: await token(svc), csr: csr.csrPem, attestation: await evidence(svc, A.tpm, spkiOf(csr.keyPem)) })).status).to.equal(200)
    expect(await svc.service.forgetDevice('swap-1', svc.clock.now())).to.equal(true)
    const again = await nodeCsr('swap-1')
    // Replaced hardware is a replacement: the operator mints the token for it.
    expect((await call(svc, 'POST', '/v1/enroll', { token: await replacement(svc, 'swap-1'), csr: again.csrPem, attestation: await evidence(svc, B.tpm, spkiOf(again.keyPem)) })).status).to.equal(200)
    expect(Buffer.from((await svc.service.deviceOf('swap-1'))?.ekSpki ?? []).equals(Buffer.from(B.ek.spki))).to.equal(true)
  })

  it('a CA with an invalid policy file refuses to start (fail closed)', async () => {
    const tmp = await startService()
    const dir = tmp.dir
    await tmp.stop()
    await writeFile(join(dir, ATTESTATION_POLICY_FILE), JSON.stringify({ ...DEFAULT_ATTESTATION_POLICY, on_failure: 'ignore' }))
    const ca = await MeshCa.open({ dir, passphrase: PASS })
    try {
      const { CaService } = await import('../../src/enrollment/ca-service.ts')
      const err = await CaService.wrap(ca).then(() => undefined, (e: unknown) => e)
      expect(err).to.include({ name: 'AttestationError', code: 'BAD_POLICY' })
    } finally {
      await ca.close()
      await tmp.cleanup()
    }
  })
})
