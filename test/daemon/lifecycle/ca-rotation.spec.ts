import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { MeshCa } from '../../../src/ca/index.ts'
import { enrollNode } from '../../../src/daemon/enroll/enroll-node.ts'
import { readNodeFile } from '../../../src/daemon/enroll/node-files.ts'
import { CaService } from '../../../src/enrollment/ca-service.ts'
import { issueServerTls, serverNames } from '../../../src/enrollment/server-cert.ts'
import { createEnrollmentServer } from '../../../src/enrollment/server.ts'
import { MIN_SCRYPT_LOG_N } from '../../../src/identity/key-file.ts'
import { pemToDerAll } from '../../../src/util/pem.ts'
import { LOOSE_LIMITS } from '../../enrollment/harness.ts'
import { eventually, waitForEvent } from '../../node/fixtures.ts'
import { FastClock, PASS, startLifecycleRuntime } from './harness.ts'
import type { AuthFailure, SessionEnded } from '../../../protocols/auth/index.ts'
import type { NodeRuntime } from '../../../src/daemon/runtime/node-runtime.ts'
import type { EnrollmentServer } from '../../../src/enrollment/server.ts'
import type { EnrollmentCa } from '../../../src/enrollment/types.ts'

/**
 * CA rotation across a running mesh of five node runtimes (QUIC on loopback), and
 * "revoking an intermediate revokes every certificate under it". One enrollment endpoint serves
 * first CA 1, then CA 2 with CA 1 as the CA being retired (`CaService` option `previous`):
 *
 * 1. root 1 signs a trust bundle [root 1, root 2]: every node trusts both;
 * 2. the endpoint switches to CA 2 (its TLS certificate too);
 * 3. a rotate-now signed by CA 2 makes the five rotate, over mutual TLS with their CA 1
 * certificates, onto CA 2; their live sessions move by re-auth;
 * 4. CA 1 revokes its issuing CA (the root's CRL lists it): a sixth node still on a CA 1
 * certificate loses its session and cannot come back (REVOKED), the five are untouched;
 * 5. root 2 signs the bundle [root 2]: root 1 is retired, and a chain to it is refused
 * (UNKNOWN_ISSUER), while the five stay connected.
 * Throughout, no connection among the five closes and no session among them ends.
 */
describe('lifecycle: CA rotation across a running mesh, and intermediate revocation (QUIC)', function () {
  const clock = new FastClock(1)
  let base: string
  let ca1: MeshCa
  let ca2: MeshCa
  let service1: CaService
  let service2: CaService | undefined
  let server: EnrollmentServer
  let url: string
  let current: CaService
  const rs: NodeRuntime[] = []
  let legacy: NodeRuntime

  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'dadm-lc-carot-'))
    ca1 = await MeshCa.init({ dir: join(base, 'ca1'), passphrase: PASS, now: clock.now(), scryptLogN: MIN_SCRYPT_LOG_N, config: { node_cert_validity_seconds: 3600 } })
    ca2 = await MeshCa.init({ dir: join(base, 'ca2'), passphrase: PASS, now: clock.now(), scryptLogN: MIN_SCRYPT_LOG_N, config: { node_cert_validity_seconds: 3600 } })
    service1 = await CaService.wrap(ca1)
    current = service1
    // One endpoint whose CA the operator switches (what restarting `ca serve --dir ca2` with CA 1 as previous does).
    const endpoint = new Proxy({}, { get: (_t, k) => { const v = (current as any)[k]; return typeof v === 'function' ? v.bind(current) : v } }) as EnrollmentCa
    const tls = await issueServerTls(ca1, serverNames('127.0.0.1'), new Date(Date.now() - 60_000), 7 * 24 * 3600)
    server = await createEnrollmentServer({ ca: endpoint, config: { tls, clientCaPem: ca1.rootPem, ...LOOSE_LIMITS }, now: clock.now })
    url = (await server.listen({ host: '127.0.0.1', port: 0 })).url
    const dirs: string[] = []
    for (const id of ['car-0', 'car-1', 'car-2', 'car-3', 'car-4', 'car-legacy']) {
      const dir = join(base, id)
      const { token } = await service1.createToken({ ttlMs: 600_000, uses: 1 }, clock.now())
      await enrollNode({ dir, caUrl: url, caCertPem: ca1.rootPem, token, nodeId: id, passphrase: PASS, scryptLogN: MIN_SCRYPT_LOG_N, now: clock.now })
      dirs.push(dir)
    }
    for (let i = 0; i < 5; i++) { rs.push(await startLifecycleRuntime(dirs[i], 110 + i, clock, { extra: { options: { gossip: { enabled: false } } } })) }
    legacy = await startLifecycleRuntime(dirs[5], 116, clock, { extra: { options: { gossip: { enabled: false } } } })
    for (let i = 0; i < 5; i++) {
      for (let j = i + 1; j < 5; j++) { await rs[i].node.dial(rs[j].node.getMultiaddrs()[0], { signal: AbortSignal.timeout(10_000) }) }
    }
    await legacy.node.dial(rs[0].node.getMultiaddrs()[0], { signal: AbortSignal.timeout(10_000) })
    await eventually(() => rs.every(a => rs.every(b => a === b || a.node.isAuthenticated(b.node.peerId))) && rs[0].node.isAuthenticated(legacy.node.peerId), 10_000)
  })

  after(async () => {
    await Promise.all([...rs, legacy].map(async r => { await r?.stop() }))
    await server?.close()
    await service2?.close() // closes ca2 and, as its `previous`, ca1
    await service1?.close()
    await rm(base, { recursive: true, force: true })
  })

  it('adds root 2, rotates every node onto it, retires root 1: the mesh stays connected; root 1 chains and a revoked intermediate are refused', async () => {
    const five = new Set(rs.map(r => r.node.peerId.toString()))
    let closes = 0
    let ended = 0
    const onClose = (e: CustomEvent<{ remotePeer: { toString(): string } }>): void => { if (five.has(e.detail.remotePeer.toString())) { closes++ } }
    const onEnded = (e: CustomEvent<SessionEnded>): void => { if (five.has(e.detail.peerId)) { ended++ } }
    for (const r of rs) {
      r.node.libp2p.addEventListener('connection:close', onClose)
      r.node.addEventListener('session:ended', onEnded)
    }
    const all = [...rs, legacy]
    const rootFp = (r: NodeRuntime): string[] => r.dir.chainVerifier.roots.map(c => c.fingerprint)

    // 1. Root 1 signs the bundle that adds root 2 (with both issuing CAs); pushed from node 0.
    const add = await service1.trustBundle({ rootsPem: ca1.rootPem + ca2.rootPem, casPem: ca1.chainPem + ca2.chainPem }, clock.now())
    expect(await rs[0].lifecycle.publish(add)).to.deep.equal({ ok: true })
    await eventually(() => all.every(r => rootFp(r).length === 2 && r.lifecycle.files.file.trust_sequence != null), 10_000)
    expect(pemToDerAll(await import('node:fs/promises').then(async fs => fs.readFile(join(rs[3].dir.dir, 'root.pem'), 'utf8')), 'CERTIFICATE')).to.have.length(2)

    // 2. The endpoint now runs CA 2, accepting CA 1's certificates for rotation; its TLS moves to CA 2.
    service2 = await CaService.wrap(ca2, { previous: ca1 })
    current = service2
    server.setTls(await issueServerTls(ca2, serverNames('127.0.0.1'), new Date(Date.now() - 60_000), 7 * 24 * 3600))

    // 3. Rotate-now, signed by CA 2's issuing CA, for the five: each moves onto CA 2.
    const now = await service2.rotateNow({ targets: rs.map(r => r.dir.nodeId) }, clock.now())
    expect(await rs[4].lifecycle.publish(now)).to.deep.equal({ ok: true })
    const issuer2 = ca2.issuingCertificate.subject.key
    await eventually(() => rs.every(r => r.lifecycle.credentials.current().leaf.issuer.key === issuer2), 15_000)
    // ... and every peer's session rests on the new certificate (re-auth, same connections).
    await eventually(() => rs.every(a => rs.every(b => a === b || a.node.peers.get(b.node.peerId.toString())?.certSerial === b.lifecycle.credentials.current().leaf.serialHex)), 10_000)
    expect(legacy.lifecycle.credentials.current().leaf.issuer.key).to.equal(ca1.issuingCertificate.subject.key)

    // 4. CA 1 revokes its issuing CA; the root's CRL reaches the nodes (as their root-CRL poll would fetch it).
    const legacyId = legacy.node.peerId.toString()
    const endedLegacy = waitForEvent<SessionEnded>(rs[0].node, 'session:ended', e => e.peerId === legacyId, 10_000)
    await ca1.revoke({ serialHex: ca1.issuingCertificate.serialHex, reason: 'cACompromise', now: clock.now() })
    const rootCrl = await ca1.buildCrl(clock.now(), 'root')
    for (const r of rs) { await r.crl.offer(rootCrl.der, { source: 'fetch' }) }
    expect(await endedLegacy).to.include({ code: 'REVOKED', nodeId: 'car-legacy' })
    const refusedRevoked = waitForEvent<AuthFailure>(rs[1].node, 'peer:auth-failed', e => e.peerId === legacyId, 10_000)
    const heardRevoked = waitForEvent<AuthFailure>(legacy.node, 'peer:auth-failed', e => e.peerId === rs[1].node.peerId.toString(), 10_000)
    // rs[1] never held a link to the legacy node, so nothing blocks its PeerId: the listener proves
    // first and judges the dialer's chain in the dialer's last flight, and the dial may resolve
    // (early finish) before the refusal arrives. Both ends must still refuse, and nothing stays.
    await legacy.node.dial(rs[1].node.getMultiaddrs()[0], { signal: AbortSignal.timeout(5_000) }).catch(() => undefined)
    expect((await refusedRevoked).code).to.equal('REVOKED')
    expect(await heardRevoked).to.include({ code: 'REMOTE_REJECTED', remoteCode: 'REVOKED' })
    await eventually(() => legacy.node.libp2p.getConnections(rs[1].node.peerId).length === 0 && !rs[1].node.isAuthenticated(legacy.node.peerId), 5_000)

    // 5. Root 2 signs the bundle that retires root 1.
    const retire = await service2.trustBundle({ rootsPem: ca2.rootPem, casPem: ca2.chainPem }, clock.now())
    expect(await rs[2].lifecycle.publish(retire)).to.deep.equal({ ok: true })
    await eventually(() => rs.every(r => rootFp(r).length === 1 && rootFp(r)[0] === ca2.rootCertificate.fingerprint), 10_000)
    // ... and each has written it to NODEDIR (root.pem, node.json trust_sequence).
    await eventually(() => rs.every(r => r.lifecycle.files.file.trust_sequence === rs[2].lifecycle.files.file.trust_sequence), 5_000)
    // The old bundle, replayed, changes nothing.
    await rs[2].lifecycle.publish(add)
    expect(rootFp(rs[2])).to.deep.equal([ca2.rootCertificate.fingerprint])
    // A chain to root 1 is refused now: no trusted root (the CA 1 certificate itself is still inside its validity).
    expect(legacy.lifecycle.credentials.current().leaf.notAfter).to.be.greaterThan(clock.ms())
    const refusedRoot1 = waitForEvent<AuthFailure>(rs[3].node, 'peer:auth-failed', e => e.peerId === legacyId, 10_000)
    await legacy.node.dial(rs[3].node.getMultiaddrs()[0], { signal: AbortSignal.timeout(5_000) }).catch(() => undefined)
    expect(await refusedRoot1).to.include({ code: 'CHAIN_INVALID', chainCode: 'UNKNOWN_ISSUER' })
    await eventually(() => legacy.node.libp2p.getConnections(rs[3].node.peerId).length === 0 && !rs[3].node.isAuthenticated(legacy.node.peerId), 5_000)

    // Throughout: the five never lost a link or a session, and hold them now.
    expect(closes).to.equal(0)
    expect(ended).to.equal(0)
    for (const a of rs) { for (const b of rs) { if (a !== b) { expect(a.node.isAuthenticated(b.node.peerId)).to.equal(true) } } }
    const file = await readNodeFile(rs[0].dir.dir)
    expect(file?.trust_sequence).to.be.a('number')
  })
})
