import { prefixLogger } from '@libp2p/logger'
import { expect } from 'aegir/chai'
import { createMeshNode } from '../../../src/node/index.ts'
import { PkiPeerVerifier } from '../../../src/node/pki-peer-verifier.ts'
import { createTestCa, enroll, eventually, loopbackOptions, NOW, waitForEvent } from '../../node/fixtures.ts'
import type { LocalCredentials, ReauthenticatedPeer, SessionEnded } from '../../../protocols/auth/index.ts'
import type { MeshNode, MeshNodeConfig } from '../../../src/node/index.ts'
import type { Enrolled, TestCa } from '../../node/fixtures.ts'
import type { Connection } from '@libp2p/interface'

/**
 * `/dadm-mesh/reauth/1.0.0` and the session watch (certificate rotation) between real mesh nodes on
 * loopback QUIC, with a clock the tests move: a rotated certificate replaces the one a live
 * session rests on without a new connection; a session whose certificate expires ends; a trust
 * change closes the sessions it no longer covers.
 */
/** Certificates of these tests are issued a minute before NOW. */
const ISSUED = NOW - 60_000

describe('auth: re-authentication of live sessions and the session watch', function () {
  let tca: TestCa
  let other: TestCa
  let t = NOW
  const now = (): number => t
  const nodes: MeshNode[] = []

  before(async () => {
    tca = await createTestCa('reauth')
    other = await createTestCa('reauth-other')
  })
  after(async () => {
    await tca.close()
    await other.close()
  })
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map(async n => { await n.stop() }))
    t = NOW
  })

  interface Started { node: MeshNode, creds: { current: LocalCredentials }, roots: { current: Uint8Array[] } }

  async function start (name: string, e: Enrolled, keepAlive?: MeshNodeConfig['keepAlive']): Promise<Started> {
    const creds = { current: e.credentials }
    const roots = { current: [tca.root] }
    const node = await createMeshNode({
      privateKey: e.hostKey,
      credentials: () => creds.current,
      verifier: new PkiPeerVerifier({ roots: () => roots.current }),
      options: loopbackOptions('quic', { auth: { sessionCheckMs: 50 }, ...(keepAlive != null ? { keepAlive } : {}) }),
      now,
      logger: prefixLogger(name)
    })
    nodes.push(node)
    return { node, creds, roots }
  }

  async function connect (a: MeshNode, b: MeshNode): Promise<{ ab: Connection, ba: Connection }> {
    await a.dial(b.getMultiaddrs()[0])
    await eventually(() => a.isAuthenticated(b.peerId) && b.isAuthenticated(a.peerId))
    return { ab: a.libp2p.getConnections(b.peerId)[0], ba: b.libp2p.getConnections(a.peerId)[0] }
  }

  it('a rotated certificate replaces the one the session rests on, on the same connection', async () => {
    const a1 = await enroll(tca, 'node-a', { validitySeconds: 600, issuedAt: ISSUED })
    const A = await start('a', a1)
    const B = await start('b', await enroll(tca, 'node-b'))
    const { ab, ba } = await connect(A.node, B.node)
    const closed: string[] = []
    B.node.libp2p.addEventListener('connection:close', (e) => { closed.push(e.detail.id) })
    expect(B.node.peers.get(A.node.peerId.toString())?.certSerial).to.equal(a1.serialHex)

    // 1. A rotates: new identity key and certificate, same node_id and host key (PeerId).
    const a2 = await enroll(tca, 'node-a', { hostKey: a1.hostKey, validitySeconds: 900, issuedAt: ISSUED })
    A.creds.current = a2.credentials
    const seen = waitForEvent<ReauthenticatedPeer>(B.node, 'peer:reauthenticated')
    // 2. A re-authenticates its live sessions with the new certificate.
    expect(await A.node.auth.reauthenticateAll()).to.deep.equal({ ok: 1, failed: 0 })
    const event = await seen
    expect(event).to.include({ serialHex: a2.serialHex, previousSerialHex: a1.serialHex, nodeId: 'node-a', connectionId: ba.id })
    // 3. B's session, peer table and A's record of the key it presented follow; nothing reconnected.
    expect(B.node.auth.getAuthenticated(ba)?.serialHex).to.equal(a2.serialHex)
    expect(B.node.peers.get(A.node.peerId.toString())?.certSerial).to.equal(a2.serialHex)
    expect(Buffer.from(A.node.auth.localSpkiOf(ab) ?? []).equals(Buffer.from(a2.identity.publicKeySpki))).to.equal(true)
    expect(B.node.libp2p.getConnections(A.node.peerId).map(c => c.id)).to.deep.equal([ba.id])
    expect(closed).to.deep.equal([])
  })

  it('a re-auth with a certificate for another node_id is refused and changes nothing (IDENTITY_CHANGED)', async () => {
    const a1 = await enroll(tca, 'node-a')
    const A = await start('a', a1)
    const B = await start('b', await enroll(tca, 'node-b'))
    const { ab, ba } = await connect(A.node, B.node)
    // Same host key, valid certificate, but it names node-x: a connection never changes who it is.
    A.creds.current = (await enroll(tca, 'node-x', { hostKey: a1.hostKey })).credentials
    const err = await A.node.auth.reauthenticate(ab).then(() => undefined, (e: any) => e)
    expect(err).to.include({ name: 'AuthError', code: 'REMOTE_REJECTED', remoteCode: 'CHAIN_INVALID' })
    expect(B.node.auth.getAuthenticated(ba)?.serialHex).to.equal(a1.serialHex)
    expect(ba.status).to.equal('open')
  })

  it('a session whose certificate expires without a re-auth stops counting at once and is closed (SESSION_EXPIRED)', async () => {
    const a1 = await enroll(tca, 'node-a', { validitySeconds: 600, issuedAt: ISSUED })
    const A = await start('a', a1)
    const B = await start('b', await enroll(tca, 'node-b', { validitySeconds: 7200, issuedAt: ISSUED }))
    const { ba } = await connect(A.node, B.node)
    const ended = waitForEvent<SessionEnded>(B.node, 'session:ended')
    // The clock passes A's notAfter; A never rotated.
    t = ISSUED + 600_000 + 1_000
    expect(B.node.auth.getAuthenticated(ba)).to.equal(undefined)
    expect(B.node.auth.authenticatedConnections()).to.have.length(0)
    expect(await ended).to.include({ code: 'SESSION_EXPIRED', serialHex: a1.serialHex, nodeId: 'node-a' })
    await eventually(() => ba.status !== 'open')
    // A test that can fail: while the certificate was valid, the session counted.
    t = NOW
  })

  it('the watch asks a peer near its expiry for its current certificate: a rotation whose push was lost still lands', async () => {
    const a1 = await enroll(tca, 'node-a', { validitySeconds: 600, issuedAt: ISSUED })
    const A = await start('a', a1)
    const B = await start('b', await enroll(tca, 'node-b', { validitySeconds: 7200, issuedAt: ISSUED }))
    const { ba } = await connect(A.node, B.node)
    const a2 = await enroll(tca, 'node-a', { hostKey: a1.hostKey, validitySeconds: 1200, issuedAt: ISSUED })
    // 1. A rotates but tells nobody (its re-auth push "was lost").
    A.creds.current = a2.credentials
    expect(B.node.auth.getAuthenticated(ba)?.serialHex).to.equal(a1.serialHex)
    // 2. The clock enters the last tenth of a1's lifetime: B's watch asks A, and A presents a2.
    const seen = waitForEvent<ReauthenticatedPeer>(B.node, 'peer:reauthenticated', undefined, 5_000)
    t = ISSUED + 600_000 - 30_000
    expect((await seen).serialHex).to.equal(a2.serialHex)
    // 3. Past a1's notAfter the session lives on, on a2.
    t = ISSUED + 600_000 + 60_000
    await new Promise(resolve => setTimeout(resolve, 200))
    expect(B.node.auth.getAuthenticated(ba)?.serialHex).to.equal(a2.serialHex)
    expect(ba.status).to.equal('open')
  })

  it('refuses re-auths faster than the minimum interval (each one makes the identity key sign)', async () => {
    const A = await start('a', await enroll(tca, 'node-a'))
    const B = await start('b', await enroll(tca, 'node-b'))
    const { ab } = await connect(A.node, B.node)
    await A.node.auth.reauthenticate(ab)
    const err = await A.node.auth.reauthenticate(ab).then(() => undefined, (e: any) => e)
    expect(err?.name).to.equal('AuthError')
    expect(ab.status).to.equal('open')
  })

  it('every connection runs the auth exchange, a quick reconnect to the same peer too (a resumed transport session changes nothing)', async () => {
    // No keeper: its redial after the hang-up is a third connection, and the test makes the second itself.
    const A = await start('a', await enroll(tca, 'node-a', { issuedAt: ISSUED }), { enabled: false })
    const B = await start('b', await enroll(tca, 'node-b', { issuedAt: ISSUED }), { enabled: false })
    const seen: Array<{ connectionId: string, authenticatedAt: number }> = []
    B.node.addEventListener('peer:authenticated', (e) => { seen.push(e.detail) })
    await connect(A.node, B.node)
    await A.node.libp2p.hangUp(B.node.peerId)
    // B learns of the hang-up from QUIC's close; on a loaded host, or if the close is missed, from
    // the idle timeout (10 s) instead.
    await eventually(() => !B.node.isAuthenticated(A.node.peerId), 15_000)
    await connect(A.node, B.node)
    expect(seen).to.have.length(2)
    expect(seen[0].connectionId).to.not.equal(seen[1].connectionId)
  })

  it('after a trust change, sessions whose chain no longer verifies are closed (revalidateSessions)', async () => {
    const A = await start('a', await enroll(tca, 'node-a'))
    const B = await start('b', await enroll(tca, 'node-b'))
    const { ba } = await connect(A.node, B.node)
    // Control: under the same trust nothing is closed.
    expect(await B.node.auth.revalidateSessions()).to.deep.equal({ checked: 1, closed: 0 })
    const ended = waitForEvent<SessionEnded>(B.node, 'session:ended')
    B.roots.current = [other.root]
    expect(await B.node.auth.revalidateSessions()).to.deep.equal({ checked: 1, closed: 1 })
    expect(await ended).to.include({ code: 'CHAIN_INVALID', chainCode: 'UNKNOWN_ISSUER' })
    await eventually(() => ba.status !== 'open')
  })
})
