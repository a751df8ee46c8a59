import { randomBytes } from 'node:crypto'
import { expect } from 'aegir/chai'
import { WIRE_VERSION } from '../../../protocols/auth/constants.ts'
import { createTestCa, enroll, loopbackOptions, NOW, revoke, signerOf, startNode, verifierFor, waitForEvent } from '../../node/fixtures.ts'
import { hostileWithAuth, noCertificate, openRawAuth, rawHostile } from './hostile.ts'
import type { HostileNode } from './hostile.ts'
import type { AuthErrorCode, AuthFailure, LocalCredentials } from '../../../protocols/auth/index.ts'
import type { MeshNode } from '../../../src/node/index.ts'
import type { Enrolled, TestCa } from '../../node/fixtures.ts'
import type { Connection, PeerId } from '@libp2p/interface'

/**
 * Hostile peers are refused: each hostile speaks real libp2p QUIC to an honest mesh
 * node N. Each named test asserts the exact code N reports, that N drops the connection within
 * the auth deadline, that the peer never appears authenticated, that no application message of
 * its reaches N's handler, and that N's gater then refuses it both ways.
 */
const DEADLINE_MS = 1_000
/** Connection teardown and event delivery on a loaded 2-core machine. */
const SLACK_MS = 750
const ECHO = '/test/echo/1.0.0'

describe('auth: hostile peers over real QUIC', function () {
  let tca: TestCa
  let otherCa: TestCa
  let honest: Enrolled
  let victim: Enrolled
  let n: MeshNode
  let echoCalls: number
  let authenticatedPeers: string[]
  const hostiles: HostileNode[] = []

  before(async () => {
    tca = await createTestCa('mesh')
    otherCa = await createTestCa('other')
    honest = await enroll(tca, 'honest')
    victim = await enroll(tca, 'victim')
  })

  beforeEach(async () => {
    n = await startNode('n', honest, tca, loopbackOptions('quic', { auth: { deadlineMs: DEADLINE_MS } }))
    echoCalls = 0
    authenticatedPeers = []
    n.addEventListener('peer:authenticated', (evt) => { authenticatedPeers.push(evt.detail.peerId) })
    await n.handle(ECHO, async (stream) => {
      echoCalls++
      for await (const chunk of stream) { stream.send(chunk) }
      await stream.close()
    })
  })

  afterEach(async () => {
    await Promise.all(hostiles.splice(0).map(async h => { await h.stop() }))
    await n.stop()
  })

  after(async () => {
    await tca.close()
    await otherCa.close()
  })

  /** Tracks N's view of one hostile peer: open/close times of its connections. */
  function watch (peer: PeerId): { opened: number[], closed: number[] } {
    const seen = { opened: [] as number[], closed: [] as number[] }
    n.libp2p.addEventListener('connection:open', (evt) => { if (evt.detail.remotePeer.equals(peer)) { seen.opened.push(performance.now()) } })
    n.libp2p.addEventListener('connection:close', (evt) => { if (evt.detail.remotePeer.equals(peer)) { seen.closed.push(performance.now()) } })
    return seen
  }

  /** Tries an application stream on the hostile's connection; it must never reach N's handler. */
  async function tryEcho (connection: Connection): Promise<void> {
    try {
      const stream = await connection.newStream(ECHO, { signal: AbortSignal.timeout(DEADLINE_MS + SLACK_MS) })
      stream.send(new TextEncoder().encode('let me in'))
      for await (const chunk of stream) { void chunk }
    } catch {}
  }

  /** The common assertions after N refused `hostile` with `code`. */
  async function expectRefused (hostile: HostileNode, failure: AuthFailure, seen: { opened: number[], closed: number[] }, code: AuthErrorCode): Promise<void> {
    const peer = hostile.peerId
    expect(failure.code).to.equal(code)
    expect(failure.peerId).to.equal(peer.toString())
    // disconnected within the deadline, measured from N's connection:open to its connection:close
    const deadline = Date.now() + DEADLINE_MS + SLACK_MS
    while (seen.closed.length < seen.opened.length && Date.now() < deadline) { await new Promise(resolve => setTimeout(resolve, 10)) }
    expect(seen.opened).to.have.lengthOf(1)
    expect(seen.closed).to.have.lengthOf(1)
    expect(seen.closed[0] - seen.opened[0]).to.be.below(DEADLINE_MS + SLACK_MS)
    expect(n.libp2p.getConnections(peer)).to.have.lengthOf(0)
    // never authenticated, never in the peer table, no message accepted
    expect(authenticatedPeers).to.not.include(peer.toString())
    expect(n.isAuthenticated(peer)).to.equal(false)
    expect(n.peers.get(peer.toString())?.status).to.not.equal('authenticated')
    expect(echoCalls).to.equal(0)
    // the gater refuses it for a back-off, in both directions
    expect(n.blockList.isBlocked(peer.toString())).to.equal(true)
    await expect(n.libp2p.dial(hostile.getMultiaddrs()[0])).to.eventually.be.rejected()
    await hostile.dial(n.getMultiaddrs()[0], { signal: AbortSignal.timeout(2_000) }).then(async c => { await c.close() }, () => {})
    await new Promise(resolve => setTimeout(resolve, 100))
    expect(seen.opened).to.have.lengthOf(1, 'a blocked peer must not get a connection')
  }

  async function refusedWithAuth (name: string, credentials: LocalCredentials, code: AuthErrorCode, hostKey?: Enrolled['hostKey']): Promise<AuthFailure> {
    const hostile = await hostileWithAuth(name, hostKey, credentials, verifierFor(tca))
    hostiles.push(hostile)
    const seen = watch(hostile.peerId)
    const failed = waitForEvent<AuthFailure>(n, 'peer:auth-failed', f => f.peerId === hostile.peerId.toString())
    const hostileSide = waitForEvent<AuthFailure>(hostile.services.auth as EventTarget, 'peer:auth-failed')
    const connection = await hostile.dial(n.getMultiaddrs()[0])
    const echo = tryEcho(connection)
    const failure = await failed
    await echo
    await expectRefused(hostile, failure, seen, code)
    // both sides know why: the hostile running our code heard N's code in the verdict
    const theirs = await hostileSide
    expect(theirs.code).to.be.oneOf(['REMOTE_REJECTED', 'CLOSED'])
    if (theirs.code === 'REMOTE_REJECTED') { expect(theirs.remoteCode).to.equal(code) }
    return failure
  }

  it('refuses a peer with no mesh certificate (NO_CERTIFICATE)', async () => {
    await refusedWithAuth('no-cert', noCertificate(), 'NO_CERTIFICATE')
  })

  it('refuses a peer with a certificate from another CA (CHAIN_INVALID / UNKNOWN_ISSUER)', async () => {
    const stranger = await enroll(otherCa, 'stranger')
    const failure = await refusedWithAuth('other-ca', stranger.credentials, 'CHAIN_INVALID', stranger.hostKey)
    expect(failure.chainCode).to.equal('UNKNOWN_ISSUER')
  })

  it('refuses a peer with an expired certificate (CHAIN_INVALID / EXPIRED)', async () => {
    // issued two days before N's clock, valid for one hour
    const stale = await enroll(tca, 'stale', { issuedAt: NOW - 2 * 24 * 3600_000, validitySeconds: 3600 })
    const failure = await refusedWithAuth('expired', stale.credentials, 'CHAIN_INVALID', stale.hostKey)
    expect(failure.chainCode).to.equal('EXPIRED')
  })

  it('refuses a peer with a revoked certificate (REVOKED)', async () => {
    const fired = await enroll(tca, 'fired')
    await revoke(tca, fired.serialHex)
    try {
      await refusedWithAuth('revoked', fired.credentials, 'REVOKED', fired.hostKey)
    } finally {
      tca.crls = []
    }
  })

  it("refuses a peer presenting another node's valid certificate and key (PEER_ID_MISMATCH)", async () => {
    // the thief holds the victim's chain and even its identity key, but not its host key
    await refusedWithAuth('thief', victim.credentials, 'PEER_ID_MISMATCH')
  })

  describe('replays', () => {
    /** Session 1: the victim's own host key and identity key, recorded by an attacker on its machine. */
    async function recordSession (): Promise<{ nonce: Uint8Array, sig: Uint8Array }> {
      const nonce = randomBytes(32)
      let sig: Uint8Array | undefined
      const recording: LocalCredentials = {
        chain: victim.chain,
        signer: { ...signerOf(victim.identity), sign: async (data) => { sig = await victim.identity.sign(data); return sig } }
      }
      const recorder = await hostileWithAuth('recorder', victim.hostKey, recording, verifierFor(tca), { nonce: () => nonce })
      const ok = waitForEvent(n, 'peer:authenticated', (p: { peerId: string }) => p.peerId === victim.peerId.toString())
      await recorder.dial(n.getMultiaddrs()[0])
      await ok
      const closed = waitForEvent(n.libp2p, 'connection:close', (c: Connection) => c.remotePeer.equals(victim.peerId))
      await recorder.stop()
      await closed
      authenticatedPeers = []
      if (sig == null) { throw new Error('nothing recorded') }
      return { nonce, sig }
    }

    async function replay (name: string, hello: { nonce: Uint8Array }, sig: Uint8Array, code: AuthErrorCode): Promise<void> {
      // Session 2: the attacker has the victim's host key and the recording, not the identity key.
      const hostile = await rawHostile(name, victim.hostKey)
      hostiles.push(hostile)
      const seen = watch(hostile.peerId)
      const failed = waitForEvent<AuthFailure>(n, 'peer:auth-failed', f => f.peerId === hostile.peerId.toString())
      const raw = await openRawAuth(hostile, n.getMultiaddrs()[0])
      // the recorded flight: hello, then (if N answers with its hello and proof) the old proof with the chain
      await raw.send({ t: 1, v: WIRE_VERSION, nonce: hello.nonce })
      let frame = await raw.read()
      if (frame.t === 1) {
        expect((await raw.read()).t).to.equal(2)
        await raw.send({ t: 2, sig, chain: victim.chain })
        await raw.send({ t: 3, ok: true })
        frame = await raw.read()
      }
      // N says why before it hangs up
      expect(frame).to.deep.equal({ t: 3, ok: false, code })
      const failure = await failed
      await expectRefused(hostile, failure, seen, code)
    }

    it('refuses a peer that replays an old auth transcript, nonce and all (REPLAYED_TRANSCRIPT)', async () => {
      const old = await recordSession()
      await replay('replayer', { nonce: old.nonce }, old.sig, 'REPLAYED_TRANSCRIPT')
    })

    it('refuses an old transcript signature under a fresh nonce (BAD_TRANSCRIPT_SIGNATURE)', async () => {
      const old = await recordSession()
      await replay('re-signer', { nonce: randomBytes(32) }, old.sig, 'BAD_TRANSCRIPT_SIGNATURE')
    })
  })

  it('refuses a peer that never answers auth: connects and stays silent (TIMEOUT)', async () => {
    const hostile = await rawHostile('silent-dialer')
    hostiles.push(hostile)
    const seen = watch(hostile.peerId)
    const failed = waitForEvent<AuthFailure>(n, 'peer:auth-failed', f => f.peerId === hostile.peerId.toString())
    const connection = await hostile.dial(n.getMultiaddrs()[0])
    await tryEcho(connection)
    const failure = await failed
    expect(failure.elapsedMs).to.be.within(DEADLINE_MS - 50, DEADLINE_MS + SLACK_MS)
    await expectRefused(hostile, failure, seen, 'TIMEOUT')
  })

  it('refuses a peer that never answers auth: accepts our auth stream and stays silent (TIMEOUT)', async () => {
    const hostile = await rawHostile('silent-listener')
    hostiles.push(hostile)
    await hostile.handle('/dadm-mesh/auth/1.0.0', () => {})
    const seen = watch(hostile.peerId)
    const failed = waitForEvent<AuthFailure>(n, 'peer:auth-failed', f => f.peerId === hostile.peerId.toString())
    const dialled = n.dial(hostile.getMultiaddrs()[0]).catch(err => err)
    const failure = await failed
    expect((await dialled).code).to.equal('NOT_AUTHENTICATED')
    expect(failure.elapsedMs).to.be.within(DEADLINE_MS - 50, DEADLINE_MS + SLACK_MS)
    await expectRefused(hostile, failure, seen, 'TIMEOUT')
  })

  it('refuses a peer that does not speak the auth protocol at all (PROTOCOL_UNSUPPORTED)', async () => {
    const hostile = await rawHostile('no-auth-protocol')
    hostiles.push(hostile)
    const seen = watch(hostile.peerId)
    const failed = waitForEvent<AuthFailure>(n, 'peer:auth-failed', f => f.peerId === hostile.peerId.toString())
    const dialled = n.dial(hostile.getMultiaddrs()[0]).catch(err => err)
    const failure = await failed
    expect((await dialled).code).to.equal('NOT_AUTHENTICATED')
    await expectRefused(hostile, failure, seen, 'PROTOCOL_UNSUPPORTED')
  })

  it('refuses a peer that sends an oversized auth frame, without reading it (FRAME_TOO_LARGE)', async () => {
    const hostile = await rawHostile('oversize')
    hostiles.push(hostile)
    const seen = watch(hostile.peerId)
    const failed = waitForEvent<AuthFailure>(n, 'peer:auth-failed', f => f.peerId === hostile.peerId.toString())
    const raw = await openRawAuth(hostile, n.getMultiaddrs()[0])
    // a varint length prefix of 1 MiB, then the start of the body
    raw.sendBytes(Uint8Array.from([0x80, 0x80, 0x40]))
    raw.sendBytes(randomBytes(4096))
    const failure = await failed
    await expectRefused(hostile, failure, seen, 'FRAME_TOO_LARGE')
  })

  it('refuses a peer that sends a frame that is not our CBOR (MALFORMED_MESSAGE)', async () => {
    const hostile = await rawHostile('garbage')
    hostiles.push(hostile)
    const seen = watch(hostile.peerId)
    const failed = waitForEvent<AuthFailure>(n, 'peer:auth-failed', f => f.peerId === hostile.peerId.toString())
    const raw = await openRawAuth(hostile, n.getMultiaddrs()[0])
    raw.sendBytes(Uint8Array.from([5, 0x81, 0x81, 0x81, 0x81, 0x80]))
    const failure = await failed
    await expectRefused(hostile, failure, seen, 'MALFORMED_MESSAGE')
  })
})
