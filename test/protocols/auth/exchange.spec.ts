import { randomBytes } from 'node:crypto'
import { handle, select } from '@libp2p/multistream-select'
import { lpStream, streamPair } from '@libp2p/utils'
import { expect } from 'aegir/chai'
import { openBareStream } from '../../../protocols/auth/bare-stream.ts'
import { PROTOCOL, WIRE_VERSION } from '../../../protocols/auth/constants.ts'
import { runExchange } from '../../../protocols/auth/exchange.ts'
import { AuthError, decodeFrame, encodeFrame } from '../../../protocols/auth/index.ts'
import { answerSelect, expectSelected, selectLines } from '../../../protocols/auth/pipelined-select.ts'
import { createTestCa, enroll, NOW, verifierFor } from '../../node/fixtures.ts'
import { noCertificate } from './hostile.ts'
import type { ExchangeParams } from '../../../protocols/auth/exchange.ts'
import type { LocalCredentials } from '../../../protocols/auth/index.ts'
import type { Enrolled, TestCa } from '../../node/fixtures.ts'
import type { Connection, Stream } from '@libp2p/interface'

/** The byte-moving half over in-memory stream pairs: fast, and every failure path reachable. */
describe('auth exchange over a stream pair', () => {
  let tca: TestCa
  let a: Enrolled
  let b: Enrolled

  before(async () => {
    tca = await createTestCa('exchange')
    a = await enroll(tca, 'ex-a')
    b = await enroll(tca, 'ex-b')
  })

  after(async () => { await tca.close() })

  function params (role: 'dialer' | 'listener', me: Enrolled, them: Enrolled, credentials: LocalCredentials = me.credentials, signal = AbortSignal.timeout(5_000)): ExchangeParams & { refused: AuthError[] } {
    const verifier = verifierFor(tca)
    const refused: AuthError[] = []
    return {
      role,
      opener: role === 'dialer',
      localPeerId: me.peerId.toMultihash().bytes,
      remotePeerId: them.peerId.toMultihash().bytes,
      remotePeerIdString: them.peerId.toString(),
      credentials,
      nonce: randomBytes(32),
      signal,
      now: () => NOW,
      refused,
      onRefuse: (err) => { refused.push(err) },
      examineHello: async (hello) => {
        let chain: any = { code: 'NO_CERTIFICATE' }
        if (hello.chain.length > 0) {
          chain = await verifier.verify(new Date(NOW), hello.chain).then(identity => ({ identity }), (err) => ({ code: err.code, chainCode: err.chainCode }))
        }
        return { remotePeerId: them.peerId.toString(), chainLength: hello.chain.length, chain, revoked: false, nonceSeen: false }
      }
    }
  }

  it('both ends learn the other identity', async () => {
    const [out, inb] = await streamPair()
    const [fromB, fromA] = await Promise.all([runExchange(out, params('dialer', a, b)), runExchange(inb, params('listener', b, a))])
    expect(fromB.nodeId).to.equal('ex-b')
    expect(fromA.nodeId).to.equal('ex-a')
  })

  it('a refused peer hears our code (REMOTE_REJECTED carrying NO_CERTIFICATE)', async () => {
    const [out, inb] = await streamPair()
    const listener = params('listener', b, a)
    const [dialerErr, listenerErr] = await Promise.all([
      runExchange(out, params('dialer', a, b, noCertificate())).catch(e => e),
      runExchange(inb, listener).catch(e => e)
    ])
    expect(listenerErr).to.include({ name: 'AuthError', code: 'NO_CERTIFICATE', verdictSent: true })
    expect(listener.refused.map(e => e.code)).to.deep.equal(['NO_CERTIFICATE'])
    expect(dialerErr).to.include({ name: 'AuthError', code: 'REMOTE_REJECTED', remoteCode: 'NO_CERTIFICATE' })
  })

  it('never reads the body of an oversized frame (FRAME_TOO_LARGE)', async () => {
    const [out, inb] = await streamPair()
    const running = runExchange(inb, params('listener', b, a)).catch(e => e)
    out.send(Uint8Array.from([0xff, 0xff, 0x3f])) // varint of about 1 MiB
    expect(await running).to.include({ name: 'AuthError', code: 'FRAME_TOO_LARGE' })
  })

  it('refuses frames out of order (MALFORMED_MESSAGE)', async () => {
    const [out, inb] = await streamPair()
    const running = runExchange(inb, params('listener', b, a)).catch(e => e)
    await lpStream(out).write(encodeFrame({ t: 2, sig: new Uint8Array(64) }))
    expect(await running).to.include({ name: 'AuthError', code: 'MALFORMED_MESSAGE' })
  })

  it('the dialer\'s first flight is a bare nonce; its chain leaves only with its proof, after the listener proved itself', async () => {
    const [out, inb] = await streamPair()
    const flights: Uint8Array[] = []
    inb.addEventListener('message', (evt: any) => { flights.push(Uint8Array.from(evt.data.subarray())) })
    await Promise.all([runExchange(out, params('dialer', a, b)), runExchange(inb, params('listener', b, a))])
    const leaf = Buffer.from(a.chain[0])
    const first = Buffer.from(flights[0])
    expect(decodeFrame(first.subarray(1))).to.have.all.keys('t', 'v', 'nonce')
    expect(first.includes(leaf.subarray(0, 64))).to.equal(false)
    // the proof flight carries the chain
    const proofFlight = Buffer.concat(flights.slice(1))
    expect(proofFlight.includes(leaf)).to.equal(true)
  })

  it('refuses frames in the other version\'s shape, with a verdict the peer hears (MALFORMED_MESSAGE)', async () => {
    // an opener that sends its chain in its first frame
    {
      const [out, inb] = await streamPair()
      const listener = params('listener', b, a)
      const running = runExchange(inb, listener).catch(e => e)
      const lp = lpStream(out)
      await lp.write(encodeFrame({ t: 1, v: WIRE_VERSION, nonce: randomBytes(32), chain: a.chain }))
      expect(await running).to.include({ name: 'AuthError', code: 'MALFORMED_MESSAGE' })
      expect(decodeFrame((await lp.read()).subarray())).to.deep.equal({ t: 3, ok: false, code: 'MALFORMED_MESSAGE' })
    }
    // a responder whose hello carries no chain: the dialer refuses and sends nothing of its own
    {
      const [out, inb] = await streamPair()
      const running = runExchange(out, params('dialer', a, b)).catch(e => e)
      const lp = lpStream(inb)
      await lp.read()
      await lp.writeV([encodeFrame({ t: 1, v: WIRE_VERSION, nonce: randomBytes(32) }), encodeFrame({ t: 2, sig: new Uint8Array(64) })])
      expect(await running).to.include({ name: 'AuthError', code: 'MALFORMED_MESSAGE' })
      expect(decodeFrame((await lp.read()).subarray())).to.deep.equal({ t: 3, ok: false, code: 'MALFORMED_MESSAGE' })
    }
  })

  it('gives up at the deadline (TIMEOUT)', async () => {
    const [, inb] = await streamPair()
    const err = await runExchange(inb, params('listener', b, a, b.credentials, AbortSignal.timeout(50))).catch(e => e)
    expect(err).to.include({ name: 'AuthError', code: 'TIMEOUT' })
  })

  it('reports a failing identity signer as our fault (LOCAL_CREDENTIALS)', async () => {
    const [out, inb] = await streamPair()
    const broken: LocalCredentials = { chain: a.chain, signer: { ...a.credentials.signer, sign: async () => { throw new Error('token removed') } } }
    const [dialerErr] = await Promise.all([
      runExchange(out, params('dialer', a, b, broken)).catch(e => e),
      runExchange(inb, params('listener', b, a)).catch(e => e)
    ])
    expect(dialerErr).to.be.instanceOf(AuthError)
    expect(dialerErr.code).to.equal('LOCAL_CREDENTIALS')
  })

  /*
   * The dialer's multistream-select lines ride with its hello (pipelined-select.ts); the listener
   * is libp2p's own select handler, as on a real connection, and must hand our responder the
   * hello intact.
   */
  describe('with pipelined multistream-select', () => {
    const dialer = (): ExchangeParams => ({ ...params('dialer', a, b), select: PROTOCOL })

    /** What libp2p does with an inbound stream: select with mss.handle, then call the handler. */
    async function libp2pListener (stream: Stream, protocols: string[], handler: (s: Stream) => Promise<unknown>): Promise<unknown> {
      stream.protocol = await handle(stream, protocols, { signal: AbortSignal.timeout(5_000) })
      return handler(stream)
    }

    it('completes the exchange when the select lines and the hello arrive in one flight', async () => {
      const [out, inb] = await streamPair()
      const [fromB, fromA] = await Promise.all([
        runExchange(out, dialer()),
        libp2pListener(inb, [PROTOCOL], async (s) => runExchange(s, params('listener', b, a)))
      ])
      expect(fromB.nodeId).to.equal('ex-b')
      expect((fromA as { nodeId: string }).nodeId).to.equal('ex-a')
    })

    it('refuses a listener without the protocol, which answers "na" (PROTOCOL_UNSUPPORTED)', async () => {
      const [out, inb] = await streamPair()
      const listening = libp2pListener(inb, ['/other/1.0.0'], async () => {}).catch(() => {})
      const err = await runExchange(out, dialer()).catch(e => e)
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

    /*
     * The listener's side of a first stream it took from the muxer (first-stream.ts): it reads
     * the select lines itself instead of libp2p's mss.handle.
     */
    it('a claimed stream: the answer to pipelined lines is held back and rides with the listener\'s first frame', async () => {
      const [out, inb] = await streamPair()
      const dialing = runExchange(out, dialer())
      const answer = await answerSelect(inb, PROTOCOL, { signal: AbortSignal.timeout(5_000) })
      expect(answer.selected).to.equal(true)
      expect(answer.unsent?.map(l => new TextDecoder().decode(l))).to.deep.equal(['/multistream/1.0.0\n', `${PROTOCOL}\n`])
      expect(inb.protocol).to.equal(PROTOCOL)
      const [fromB, fromA] = await Promise.all([dialing, runExchange(inb, { ...params('listener', b, a), replyPrefix: answer.unsent })])
      expect(fromB.nodeId).to.equal('ex-b')
      expect(fromA.nodeId).to.equal('ex-a')
    })

    it('a claimed stream: a refusal still carries the held-back answer, so the dialer hears the code (REMOTE_REJECTED)', async () => {
      const [out, inb] = await streamPair()
      const dialing = runExchange(out, { ...params('dialer', a, b, noCertificate()), select: PROTOCOL }).catch(e => e)
      const answer = await answerSelect(inb, PROTOCOL, { signal: AbortSignal.timeout(5_000) })
      const listenerErr = await runExchange(inb, { ...params('listener', b, a), replyPrefix: answer.unsent }).catch(e => e)
      expect(listenerErr).to.include({ name: 'AuthError', code: 'NO_CERTIFICATE' })
      expect(await dialing).to.include({ name: 'AuthError', code: 'REMOTE_REJECTED', remoteCode: 'NO_CERTIFICATE' })
    })

    it('a claimed stream: a dialer that waits for the answer (full negotiation) gets it at once', async () => {
      const [out, inb] = await streamPair()
      const selecting = select(out, PROTOCOL, { signal: AbortSignal.timeout(5_000) })
      const answer = await answerSelect(inb, PROTOCOL, { signal: AbortSignal.timeout(5_000) })
      expect(answer).to.deep.equal({ selected: true })
      expect(await selecting).to.equal(PROTOCOL)
      const [fromB, fromA] = await Promise.all([runExchange(out, params('dialer', a, b)), runExchange(inb, params('listener', b, a))])
      expect(fromB.nodeId).to.equal('ex-b')
      expect(fromA.nodeId).to.equal('ex-a')
    })

    it('a claimed stream that asks for another protocol goes back unread: libp2p\'s select reads the same lines, and the data after them', async () => {
      const [out, inb] = await streamPair()
      const payload = new TextEncoder().encode('first message')
      await lpStream(out).writeV([...selectLines('/other/1.0.0'), payload])
      const answer = await answerSelect(inb, PROTOCOL, { signal: AbortSignal.timeout(5_000) })
      expect(answer).to.deep.equal({ selected: false })
      expect(await handle(inb, ['/other/1.0.0'], { signal: AbortSignal.timeout(5_000) })).to.equal('/other/1.0.0')
      expect((await lpStream(inb).read({ signal: AbortSignal.timeout(5_000) })).subarray()).to.deep.equal(payload)
    })

    it('a claimed stream whose select line is longer than libp2p allows is refused at once (FRAME_TOO_LARGE)', async () => {
      const [out, inb] = await streamPair()
      await lpStream(out).write(new Uint8Array(1025).fill(0x61))
      expect(await answerSelect(inb, PROTOCOL, { signal: AbortSignal.timeout(5_000) }).catch(e => e)).to.include({ name: 'AuthError', code: 'FRAME_TOO_LARGE' })
    })

    it('a claimed stream that does not speak multistream-select goes back unread too', async () => {
      const [out, inb] = await streamPair()
      const junk = new TextEncoder().encode('GET / HTTP/1.1\n')
      await lpStream(out).write(junk)
      expect(await answerSelect(inb, PROTOCOL, { signal: AbortSignal.timeout(5_000) })).to.deep.equal({ selected: false })
      expect((await lpStream(inb).read({ signal: AbortSignal.timeout(5_000) })).subarray()).to.deep.equal(junk)
    })

    it('falls back (null) when the connection exposes no muxer, and refuses a closed connection (CLOSED)', async () => {
      const bare = { status: 'open' } as unknown as Connection
      expect(await openBareStream(bare, PROTOCOL, AbortSignal.timeout(1_000))).to.equal(null)
      const closed = { status: 'closed', muxer: { status: 'open', createStream: async () => { throw new Error('must not be called') } } } as unknown as Connection
      const err = await openBareStream(closed, PROTOCOL, AbortSignal.timeout(1_000)).catch(e => e)
      expect(err).to.include({ name: 'AuthError', code: 'CLOSED' })
    })
  })
})
