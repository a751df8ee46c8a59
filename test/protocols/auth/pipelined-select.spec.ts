import { randomBytes } from 'node:crypto'
import { handle } from '@libp2p/multistream-select'
import { lpStream, streamPair } from '@libp2p/utils'
import { expect } from 'aegir/chai'
import { PROTOCOL } from '../../../protocols/auth/constants.ts'
import { runExchange } from '../../../protocols/auth/exchange.ts'
import { expectSelected, openBareStream, selectLines } from '../../../protocols/auth/pipelined-select.ts'
import { createTestCa, enroll, NOW, verifierFor } from '../../node/fixtures.ts'
import type { ExchangeParams } from '../../../protocols/auth/exchange.ts'
import type { Enrolled, TestCa } from '../../node/fixtures.ts'
import type { Connection, Stream } from '@libp2p/interface'

/**
 * The dialer's select lines ride with its hello; the listener is libp2p's own multistream-select
 * handler, as on a real connection, and must hand our responder the hello intact.
 */
describe('auth stream with pipelined multistream-select', () => {
  let tca: TestCa
  let a: Enrolled
  let b: Enrolled

  before(async () => {
    tca = await createTestCa('pipelined')
    a = await enroll(tca, 'ps-a')
    b = await enroll(tca, 'ps-b')
  })

  after(async () => { await tca.close() })

  function params (role: 'dialer' | 'listener', me: Enrolled, them: Enrolled): ExchangeParams {
    const verifier = verifierFor(tca)
    return {
      role,
      opener: role === 'dialer',
      localPeerId: me.peerId.toMultihash().bytes,
      remotePeerId: them.peerId.toMultihash().bytes,
      remotePeerIdString: them.peerId.toString(),
      credentials: me.credentials,
      nonce: randomBytes(32),
      signal: AbortSignal.timeout(5_000),
      now: () => NOW,
      onRefuse: () => {},
      examineHello: async (hello) => ({
        remotePeerId: them.peerId.toString(),
        chainLength: hello.chain.length,
        chain: { identity: await verifier.verify(new Date(NOW), hello.chain) },
        revoked: false,
        nonceSeen: false
      }),
      ...(role === 'dialer' ? { select: PROTOCOL } : {})
    }
  }

  /** What libp2p does with an inbound stream: select with mss.handle, then call the handler. */
  async function libp2pListener (stream: Stream, protocols: string[], handler: (s: Stream) => Promise<unknown>): Promise<unknown> {
    stream.protocol = await handle(stream, protocols, { signal: AbortSignal.timeout(5_000) })
    return handler(stream)
  }

  it('completes the exchange when the select lines and the hello arrive in one flight', async () => {
    const [out, inb] = await streamPair()
    const [fromB, fromA] = await Promise.all([
      runExchange(out, params('dialer', a, b)),
      libp2pListener(inb, [PROTOCOL], async (s) => runExchange(s, params('listener', b, a)))
    ])
    expect(fromB.nodeId).to.equal('ps-b')
    expect((fromA as { nodeId: string }).nodeId).to.equal('ps-a')
  })

  it('refuses a listener without the protocol, which answers "na" (PROTOCOL_UNSUPPORTED)', async () => {
    const [out, inb] = await streamPair()
    const listening = libp2pListener(inb, ['/other/1.0.0'], async () => {}).catch(() => {})
    const err = await runExchange(out, params('dialer', a, b)).catch(e => e)
    expect(err).to.include({ name: 'AuthError', code: 'PROTOCOL_UNSUPPORTED' })
    inb.abort(new Error('test over'))
    await listening
  })

  it('refuses a listener that does not speak multistream-select (PROTOCOL_UNSUPPORTED)', async () => {
    const [out, inb] = await streamPair()
    const lp = lpStream(out)
    await lp.writeV(selectLines(PROTOCOL))
    await lpStream(inb).write(new TextEncoder().encode('hello there\n'))
    const err = await expectSelected(lp, PROTOCOL, { signal: AbortSignal.timeout(5_000) }).catch(e => e)
    expect(err).to.include({ name: 'AuthError', code: 'PROTOCOL_UNSUPPORTED' })
  })

  it('refuses a listener that selects another protocol than ours (PROTOCOL_UNSUPPORTED)', async () => {
    const [out, inb] = await streamPair()
    const lp = lpStream(out)
    await lpStream(inb).writeV(selectLines('/other/1.0.0'))
    const err = await expectSelected(lp, PROTOCOL, { signal: AbortSignal.timeout(5_000) }).catch(e => e)
    expect(err).to.include({ name: 'AuthError', code: 'PROTOCOL_UNSUPPORTED' })
  })

  it('falls back (null) when the connection exposes no muxer, and refuses a closed connection (CLOSED)', async () => {
    const bare = { status: 'open' } as unknown as Connection
    expect(await openBareStream(bare, PROTOCOL, AbortSignal.timeout(1_000))).to.equal(null)
    const closed = { status: 'closed', muxer: { status: 'open', createStream: async () => { throw new Error('must not be called') } } } as unknown as Connection
    const err = await openBareStream(closed, PROTOCOL, AbortSignal.timeout(1_000)).catch(e => e)
    expect(err).to.include({ name: 'AuthError', code: 'CLOSED' })
  })
})
