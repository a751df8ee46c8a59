import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { parseAttestationPolicy } from '../../src/attestation/policy.ts'
import { Swtpm, swtpmMissing } from '../../src/attestation/swtpm.ts'
import { Tpm } from '../../src/attestation/tpm.ts'
import { startCaMeshPublisher } from '../../src/daemon/ca-mesh-publisher.ts'
import { enrollNode } from '../../src/daemon/enroll/enroll-node.ts'
import { readNodeFile } from '../../src/daemon/enroll/node-files.ts'
import { startNodeRuntime } from '../../src/daemon/runtime/node-runtime.ts'
import { MIN_SCRYPT_LOG_N } from '../../src/identity/key-file.ts'
import { parseCrl } from '../../src/pki/crl.ts'
import { call, startService } from '../enrollment/harness.ts'
import { eventually, waitForEvent } from '../node/fixtures.ts'
import type { PeerAttestedEvent, PeerDemotedEvent } from '../../protocols/attest/index.ts'
import type { CaMeshPublisher } from '../../src/daemon/ca-mesh-publisher.ts'
import type { NodeRuntime } from '../../src/daemon/runtime/node-runtime.ts'
import type { MeshNodeConfig } from '../../src/node/config.ts'
import type { Service } from '../enrollment/harness.ts'

const PASS = 'attest revoke test passphrase'

/**
 * With ca.json `attestation.revoke_on_reported_failure` on (2 distinct reporters), a failed
 * attestation reaches the CA and revokes the node, and every node cuts it off. Real parts: the CA
 * behind HTTPS, node runtimes (`node start`) over QUIC, the CA's own mesh node pushing the CRL,
 * and a software TPM (swtpm) whose PCR 16 is extended so the victim's next quote fails the
 * policy. The runtimes' CRL poll is off: only the reports and the CA's push can cut the victim off.
 */
describe('e2e: a failed attestation reported to the CA revokes the node, and the mesh cuts it off (swtpm, QUIC)', function () {
  this.timeout(180_000)
  let base: string
  let svc: Service | undefined
  let swtpm: Swtpm | undefined
  let publisher: CaMeshPublisher | undefined
  const runtimes: NodeRuntime[] = []

  before(async function () {
    // Skip rule: needs swtpm and tpm2-tools (Debian packages swtpm, tpm2-tools); CI installs them.
    if (await swtpmMissing() != null) { this.skip() }
    base = await mkdtemp(join(tmpdir(), 'dadm-attest-revoke-'))
  })

  after(async () => {
    await Promise.all(runtimes.map(async r => { await r.stop().catch(() => {}) }))
    await publisher?.stop().catch(() => {})
    await svc?.cleanup()
    await swtpm?.stop()
    if (base != null) { await rm(base, { recursive: true, force: true }) }
  })

  it('the peers\' reports (PCR_NOT_ALLOWED) revoke the victim at the CA, and B, C and the CA node close it out', async () => {
    // 1. The victim's TPM; the CA's policy: its golden PCRs 0-7 and 16, TPM-less members allowed (`none`).
    await mkdir(join(base, 'tpm-state'))
    swtpm = await Swtpm.start({ stateDir: join(base, 'tpm-state') })
    const probe = new Tpm({ tcti: swtpm.tcti, dir: join(base, 'probe') })
    const golden = await probe.readPcrs([0, 1, 2, 3, 4, 5, 6, 7, 16])
    const policy = parseAttestationPolicy({ accept_none: true, golden_sets: [golden.values], max_evidence_age_seconds: 60 })
    svc = await startService({
      init: { config: { attestation: { revoke_on_reported_failure: true, reporters_to_revoke: 2 } } as any },
      service: { attestationPolicy: policy }
    })
    svc.service.useCrlUrl(`${svc.url}/v1/crl`)
    const s = svc

    // 2. The CA's mesh node, then the victim (enrolled with a quote) and two members (no TPM).
    const gossip = { ipColocationFactorWeight: 0 }
    const opts = (host: number, bootstrap: string[]): MeshNodeConfig => ({
      listen: [`/ip4/127.0.0.${host}/udp/0/quic-v1`],
      transports: { quic: true, tcp: false },
      mdns: { enabled: false },
      bootstrap,
      gossip,
      // checked every second, so the extended PCR is seen at once
      attest: { intervalMs: 1_000, minProverIntervalMs: 0 }
    })
    publisher = await startCaMeshPublisher({
      service: s.service, dir: join(base, 'ca-mesh'), passphrase: PASS, caUrl: s.url, scryptLogN: MIN_SCRYPT_LOG_N, options: opts(120, [])
    })
    const caAddr = publisher.runtime.node.getMultiaddrs()[0].toString()
    const enrollDir = async (nodeId: string, tcti?: string): Promise<string> => {
      const { token } = await s.service.createToken({ ttlMs: 600_000, uses: 1 }, s.clock.now())
      const dir = join(base, nodeId)
      await enrollNode({ dir, caUrl: s.url, caCertPem: s.rootPem, token, nodeId, passphrase: PASS, scryptLogN: MIN_SCRYPT_LOG_N, timeoutMs: 10_000, ...(tcti != null ? { attestTcti: tcti } : {}) })
      return dir
    }
    const start = async (dir: string, host: number): Promise<NodeRuntime> => {
      const r = await startNodeRuntime({ dir, passphrase: PASS, api: false, crl: false, runFile: false, options: opts(host, [caAddr]) })
      runtimes.push(r)
      return r
    }
    const victimDir = await enrollDir('att-victim', swtpm.tcti)
    const victimSerial = (await readNodeFile(victimDir))?.serial as string
    const b = await start(await enrollDir('att-b'), 121)
    const c = await start(await enrollDir('att-c'), 122)
    const keepers = [b, c, publisher.runtime]
    const victimId = (await readNodeFile(victimDir))?.peer_id as string
    const quoted = keepers.map(async k => waitForEvent<PeerAttestedEvent>(k.node, 'peer:attested', d => d.nodeId === 'att-victim' && d.type === 'tpm_quote', 30_000))
    const victim = await start(victimDir, 123)
    for (const k of [b, c]) { await victim.node.dial(k.node.getMultiaddrs()[0], { signal: AbortSignal.timeout(10_000) }) }

    // 3. Everyone attests the victim's quote; it is a member everywhere, not revoked at the CA.
    await Promise.all(quoted)
    for (const k of keepers) { expect(k.node.attest.isMember(victimId)).to.equal(true) }
    expect(await s.ca.isNodeRevoked('att-victim')).to.equal(false)

    // 4. The victim's PCR 16 changes: its next quotes fail the golden set on every verifier.
    // (the verifiers check in turn; once two have reported, the CRL may cut the victim off before
    // the third gets to its next check, so every demotion is collected rather than awaited)
    const demotions: PeerDemotedEvent[] = []
    for (const k of keepers) { k.node.addEventListener('peer:demoted', (e) => { if (e.detail.nodeId === 'att-victim') { demotions.push(e.detail) } }) }
    // the CA announces each new CRL to its listeners (its mesh node among them) as it builds it
    const newCrl = new Promise<{ der: Uint8Array }>((resolve, reject) => {
      const remove = s.service.onRevocationCrl((crl) => { remove(); clearTimeout(timer); resolve(crl) })
      const timer = setTimeout(() => { remove(); reject(new Error('no revocation at the CA within 30 s')) }, 30_000)
    })
    await probe.extendPcr(16, createHash('sha256').update('unexpected measurement').digest('hex'))

    // 5. The reports reach the CA (mutual TLS, one per reporter), which revokes at the second distinct one.
    const pushed = parseCrl((await newCrl).der)
    expect(pushed.revoked.has(victimSerial)).to.equal(true)
    expect(await s.ca.isNodeRevoked('att-victim')).to.equal(true)
    expect(demotions.length).to.be.at.least(2)
    for (const e of demotions) { expect(e).to.deep.include({ code: 'PCR_NOT_ALLOWED', action: 'demote', serialHex: victimSerial }) }
    const audit = await s.ca.store.auditLog({ limit: 1000 })
    const reports = audit.filter(e => e.action === 'attestation-failure-report').map(e => e.fields as { reporter: string, node_id: string, code: string, counted: boolean })
    expect(new Set(reports.map(r => r.reporter)).size).to.be.at.least(2)
    for (const r of reports) { expect(r).to.include({ node_id: 'att-victim', code: 'PCR_NOT_ALLOWED', counted: true }) }
    expect(audit.some(e => e.action === 'attestation-failure-revoke')).to.equal(true)
    const crl = parseCrl(new Uint8Array((await call(s, 'GET', '/v1/crl')).body))
    expect(crl.revoked.get(victimSerial)?.reason).to.equal('privilegeWithdrawn')

    // 6. Cut off everywhere: the CA node pushes the CRL; no keeper keeps a connection to the victim,
    // and the victim cannot come back.
    await eventually(() => keepers.every(k => k.node.libp2p.getConnections(victim.node.peerId).length === 0), 30_000)
    for (const k of keepers) { expect(k.node.peers.has(victimId)).to.equal(false) }
    // The listener proves first, so the victim's own dial() may resolve before B's refusal of its
    // chain arrives; what must hold is that B never holds or authenticates it.
    await victim.node.dial(b.node.getMultiaddrs()[0], { signal: AbortSignal.timeout(5_000) }).catch(() => {})
    await eventually(() => b.node.libp2p.getConnections(victim.node.peerId).length === 0, 10_000)
    expect(b.node.isAuthenticated(victim.node.peerId)).to.equal(false)
    expect(b.node.peers.has(victimId)).to.equal(false)
  })
})
