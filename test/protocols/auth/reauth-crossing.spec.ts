import { prefixLogger } from '@libp2p/logger'
import { expect } from 'aegir/chai'
import { createMeshNode } from '../../../src/node/index.ts'
import { PkiPeerVerifier } from '../../../src/node/pki-peer-verifier.ts'
import { createTestCa, enroll, eventually, loopbackOptions, NOW } from '../../node/fixtures.ts'
import type { LocalCredentials } from '../../../protocols/auth/index.ts'
import type { MeshNode } from '../../../src/node/index.ts'
import type { Enrolled, TestCa } from '../../node/fixtures.ts'

/**
 * Two re-auths that cross on one connection (what a fleet-wide rotation produces, as in the
 * simulation's `rotation` scenario): B re-authenticates the connection while A is rotating, A
 * rotates and re-authenticates it too, and B's exchange, which began with A's old certificate,
 * ends last. The session must stay on A's new certificate on B's side, and A must keep
 * recording that it presented its new key: a session that fell back onto the old certificate
 * would be closed by B's watch once that expired (SESSION_EXPIRED), under a fleet that never
 * stops rotating.
 */
const ISSUED = NOW - 60_000

describe('auth: crossing re-auths keep the newest certificate on both sides', function () {
  let tca: TestCa
  const nodes: MeshNode[] = []
  const now = (): number => NOW

  before(async () => { tca = await createTestCa('reauth-crossing') })
  after(async () => {
    await Promise.all(nodes.splice(0).map(async n => { await n.stop() }))
    await tca.close()
  })

  async function start (name: string, creds: { current: LocalCredentials }, e: Enrolled): Promise<MeshNode> {
    const node = await createMeshNode({
      privateKey: e.hostKey,
      credentials: () => creds.current,
      verifier: new PkiPeerVerifier({ roots: () => [tca.root] }),
      options: loopbackOptions('quic', { auth: { sessionCheckMs: 50 } }),
      now,
      logger: prefixLogger(name)
    })
    nodes.push(node)
    return node
  }

  it('a re-auth that began on the old certificate and ended last does not replace the new one', async () => {
    const a1 = await enroll(tca, 'node-a', { validitySeconds: 600, issuedAt: ISSUED })
    const b1 = await enroll(tca, 'node-b', { validitySeconds: 3600, issuedAt: ISSUED })
    // B's identity signer can be held once, to make B's own re-auth end after A's.
    let hold: { release: Promise<void>, entered(): void } | undefined
    const bSign = b1.credentials.signer.sign
    const bCreds = { current: { chain: b1.chain, signer: { ...b1.credentials.signer, sign: async (d: Uint8Array) => { const h = hold; hold = undefined; if (h != null) { h.entered(); await h.release } return bSign(d) } } } }
    const aCreds = { current: a1.credentials }
    const A = await start('a', aCreds, a1)
    const B = await start('b', bCreds, b1)
    await A.dial(B.getMultiaddrs()[0])
    await eventually(() => A.isAuthenticated(B.peerId) && B.isAuthenticated(A.peerId))
    const ab = A.libp2p.getConnections(B.peerId)[0]
    const ba = B.libp2p.getConnections(A.peerId)[0]
    // A's side of each re-auth that lands (the opener finishes once its proof is sent, so the
    // responder's side ends a little later): Y, where A opens, and X, where A answers.
    let aLanded = 0
    A.auth.addEventListener('peer:reauthenticated', () => { aLanded++ })

    // 1. B starts a re-auth; A answers with what it holds now (a1), and B's signature is held.
    let release!: () => void
    const released = new Promise<void>(resolve => { release = resolve })
    const entered = new Promise<void>(resolve => { hold = { release: released, entered: resolve } })
    const crossing = B.auth.reauthenticate(ba)
    await entered
    // 2. Meanwhile A rotates (a2, issued later) and re-authenticates the same connection: it lands.
    const a2 = await enroll(tca, 'node-a', { hostKey: a1.hostKey, validitySeconds: 600, issuedAt: ISSUED + 10_000 })
    aCreds.current = a2.credentials
    await A.auth.reauthenticate(ab)
    await eventually(() => B.auth.getAuthenticated(ba)?.serialHex === a2.serialHex)
    expect(aLanded).to.equal(1)
    // 3. B's exchange, still carrying a1, now ends, on B's side and then on A's.
    release()
    await crossing
    await eventually(() => aLanded === 2)

    // 4. Both sides keep the newest: B rests on a2, and A records that it presented a2's key.
    expect(B.auth.getAuthenticated(ba)?.serialHex).to.equal(a2.serialHex)
    expect(B.peers.get(A.peerId.toString())?.certSerial).to.equal(a2.serialHex)
    expect(Buffer.from(A.auth.localSpkiOf(ab) ?? []).equals(Buffer.from(a2.identity.publicKeySpki))).to.equal(true)
    expect(ba.status).to.equal('open')
  })
})
