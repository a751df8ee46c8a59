import { expect } from 'aegir/chai'
import { encodeOpening } from '../../../protocols/auth/codec.ts'
import { PROTOCOL } from '../../../protocols/auth/constants.ts'
import { freshNonce } from '../../../protocols/auth/nonce.ts'
import { createTestCa, enroll, loopbackOptions, startNode, waitForEvent } from '../../node/fixtures.ts'
import { rawHostile } from './hostile.ts'
import { mssSplit, rawSelect } from './raw-mss.ts'
import type { HostileNode } from './hostile.ts'
import type { AuthFailure } from '../../../protocols/auth/index.ts'
import type { MeshNode } from '../../../src/node/index.ts'
import type { Enrolled, TestCa } from '../../node/fixtures.ts'
import type { Connection } from '@libp2p/interface'

/**
 * Nothing but auth before auth, spoken as a stranger would: raw multistream-select 1.0 lines on
 * bare QUIC streams (no libp2p select on our side), to a mesh node N that handles a dozen
 * protocols. Before auth the only answer N ever gives to anything but the auth protocol is "na":
 * no protocol id can be learned, not even by guessing one.
 */
const DEADLINE_MS = 1_500
const HEADER = '/multistream/1.0.0\n'
const ECHO = '/test/echo/1.0.0'

describe('auth: nothing but auth before auth (raw multistream-select over QUIC)', function () {
  let tca: TestCa
  let member: Enrolled
  let n: MeshNode
  let echoCalls: number
  const hostiles: HostileNode[] = []

  before(async () => {
    tca = await createTestCa('preauth-ls')
    member = await enroll(tca, 'ls-node')
  })

  beforeEach(async () => {
    n = await startNode('n', member, tca, loopbackOptions('quic', { auth: { deadlineMs: DEADLINE_MS } }))
    echoCalls = 0
    await n.handle(ECHO, async (stream) => { echoCalls++; await stream.close() })
  })

  afterEach(async () => {
    await Promise.all(hostiles.splice(0).map(async h => { await h.stop() }))
    await n.stop()
  })

  after(async () => { await tca.close() })

  async function stranger (): Promise<{ hostile: HostileNode, connection: Connection }> {
    const hostile = await rawHostile('stranger')
    hostiles.push(hostile)
    const connection = await hostile.dial(n.getMultiaddrs()[0])
    return { hostile, connection }
  }

  /** The lines a raw select got back: exactly the header and "na", nothing naming a protocol. */
  function expectNaOnly (bytes: Uint8Array): void {
    const lines = mssSplit(bytes)
    expect(lines).to.deep.equal([HEADER, 'na\n'])
  }

  it('a first stream that sends `ls` gets "na" and is closed (na)', async () => {
    // N really does handle protocols an `ls` would list
    expect(n.libp2p.getProtocols().length).to.be.at.least(5)
    const { connection } = await stranger()
    const { answer } = await rawSelect(connection, [HEADER, 'ls\n'], DEADLINE_MS)
    const got = await answer
    expectNaOnly(got.bytes)
    expect(got.ended).to.not.equal('deadline')
    expect(n.isAuthenticated(connection.remotePeer)).to.equal(false)
  })

  it('a first stream that asks for another protocol (identify, a guarded handler) gets "na" and is closed (na)', async () => {
    for (const protocol of ['/ipfs/id/1.0.0', ECHO]) {
      const { connection } = await stranger()
      const { answer } = await rawSelect(connection, [HEADER, `${protocol}\n`], DEADLINE_MS)
      const got = await answer
      expectNaOnly(got.bytes)
      expect(got.ended).to.not.equal('deadline')
    }
    expect(echoCalls).to.equal(0)
  })

  it('while auth is running: `ls` on a later stream gets "na"; a real protocol id is never echoed, and the connection fails auth (na, TIMEOUT)', async () => {
    const { hostile, connection } = await stranger()
    const failed = waitForEvent<AuthFailure>(n, 'peer:auth-failed', f => f.peerId === hostile.peerId.toString(), DEADLINE_MS * 3)
    // The auth stream: our opening hello, then silence once N has proved itself.
    const auth = await rawSelect(connection, [HEADER, `${PROTOCOL}\n`], DEADLINE_MS * 2)
    const opening = encodeOpening(freshNonce())
    auth.stream.send(Buffer.concat([Uint8Array.of(opening.byteLength), opening]))
    // A later stream asking `ls`, and one asking for identify, while N waits for our proof.
    const ls = await rawSelect(connection, [HEADER, 'ls\n'], DEADLINE_MS)
    expectNaOnly((await ls.answer).bytes)
    const id = await rawSelect(connection, [HEADER, '/ipfs/id/1.0.0\n', '/dadm-mesh/kad/1.0.0\n'], DEADLINE_MS * 2)
    const failure = await failed
    expect(failure.code).to.equal('TIMEOUT')
    const idAnswer = await id.answer
    // Held unanswered until the verdict, then refused (or gone with the connection): never an echo.
    expect(mssSplit(idAnswer.bytes).filter(l => l !== HEADER && l !== 'na\n')).to.deep.equal([])
    // The auth stream showed N's select answer and its proof, nothing else of N's protocols.
    const authLines = mssSplit((await auth.answer).bytes)
    expect(authLines.slice(0, 2)).to.deep.equal([HEADER, `${PROTOCOL}\n`])
    expect(echoCalls).to.equal(0)
  })

  it('as dialer too: a listener that never finishes auth learns nothing from `ls` or a guessed id on our connection (na)', async () => {
    const hostile = await rawHostile('silent-listener')
    hostiles.push(hostile)
    await hostile.handle(PROTOCOL, () => {})
    const dialled = n.dial(hostile.getMultiaddrs()[0]).catch(err => err)
    const deadline = Date.now() + DEADLINE_MS
    let connection: Connection | undefined
    while (connection == null && Date.now() < deadline) {
      connection = hostile.getConnections(n.peerId)[0]
      if (connection == null) { await new Promise(resolve => setTimeout(resolve, 5)) }
    }
    if (connection == null) { throw new Error('N never connected') }
    const ls = await rawSelect(connection, [HEADER, 'ls\n'], DEADLINE_MS)
    expectNaOnly((await ls.answer).bytes)
    const id = await rawSelect(connection, [HEADER, '/ipfs/id/1.0.0\n'], DEADLINE_MS * 2)
    expect((await dialled).code).to.equal('NOT_AUTHENTICATED')
    expect(mssSplit((await id.answer).bytes).filter(l => l !== HEADER && l !== 'na\n')).to.deep.equal([])
  })
})
