import { expect } from 'aegir/chai'
import { generatePkcs8, softwareKeyFromPkcs8 } from '../../../src/identity/software-key.ts'
import { createTestCa, enroll, eventually, startNode, waitForEvent } from '../../node/fixtures.ts'
import type { AuthFailure } from '../../../protocols/auth/index.ts'
import type { MeshNode } from '../../../src/node/index.ts'
import type { TestCa } from '../../node/fixtures.ts'

/**
 * The dialer finishes its auth once its proof is sent, as a TLS 1.3 client does after its
 * Finished, without waiting for the listener's "ok" (half a round trip). What that must not
 * change: the listener admits nothing before it has checked the proof, and a proof it refuses
 * still ends the connection on both sides, reported on the dialer as REMOTE_REJECTED with the
 * listener's code. A dialer whose signer signs with another key than its certificate's (the
 * only refusal that comes after the proof) shows it over real QUIC.
 */
describe('auth: early finish of the dialer (QUIC)', function () {
  let tca: TestCa
  const nodes: MeshNode[] = []

  before(async () => { tca = await createTestCa('early-finish') })
  after(async () => {
    await Promise.all(nodes.splice(0).map(async n => { await n.stop() }))
    await tca.close()
  })

  it('an honest pair: the dial resolves authenticated and the listener authenticates the dialer too', async () => {
    const a = await startNode('a', await enroll(tca, 'ef-a'), tca)
    const b = await startNode('b', await enroll(tca, 'ef-b'), tca)
    nodes.push(a, b)
    const peer = await a.dial(b.getMultiaddrs()[0])
    expect(peer.nodeId).to.equal('ef-b')
    await eventually(() => b.isAuthenticated(a.peerId))
    // The auth stream was closed cleanly once the listener's "ok" came: no late failure.
    await new Promise(resolve => setTimeout(resolve, 300))
    expect(a.isAuthenticated(b.peerId)).to.equal(true)
    expect(a.libp2p.getConnections(b.peerId)).to.have.length(1)
  })

  it('a proof the listener refuses after the dialer finished closes the connection: REMOTE_REJECTED on the dialer', async () => {
    const honest = await enroll(tca, 'ef-honest')
    const forger = await enroll(tca, 'ef-forger')
    // The forger presents its own valid chain and spki, but signs with an unrelated key.
    const other = await softwareKeyFromPkcs8('other', 'P-256', await generatePkcs8('P-256'), false)
    forger.credentials = { chain: forger.chain, signer: { ...forger.credentials.signer, sign: async (d: Uint8Array) => other.sign(d) } }
    const listener = await startNode('honest', honest, tca)
    const dialer = await startNode('forger', forger, tca)
    nodes.push(listener, dialer)
    const refusedAtListener = waitForEvent<AuthFailure>(listener.auth, 'peer:auth-failed')
    const lateAtDialer = waitForEvent<AuthFailure>(dialer.auth, 'peer:auth-failed')
    // The dial itself may resolve (early finish) or fail, if the verdict beats it: both are fine.
    await dialer.dial(listener.getMultiaddrs()[0]).catch(() => undefined)
    expect(await refusedAtListener).to.include({ code: 'BAD_TRANSCRIPT_SIGNATURE' })
    expect(await lateAtDialer).to.include({ code: 'REMOTE_REJECTED', remoteCode: 'BAD_TRANSCRIPT_SIGNATURE' })
    await eventually(() => dialer.libp2p.getConnections(listener.peerId).length === 0 && listener.libp2p.getConnections(dialer.peerId).length === 0)
    expect(listener.isAuthenticated(dialer.peerId)).to.equal(false)
    expect(dialer.isAuthenticated(listener.peerId)).to.equal(false)
  })
})
