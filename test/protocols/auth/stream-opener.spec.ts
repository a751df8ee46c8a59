import { TypedEventEmitter } from '@libp2p/interface'
import { expect } from 'aegir/chai'
import { authStreamOpener } from '../../../protocols/auth/libp2p-stream-opener.ts'
import type { AuthStreamComponents } from '../../../protocols/auth/stream-opener.ts'
import type { Connection, Stream, StreamMuxer, StreamMuxerFactory, Transport } from '@libp2p/interface'

/*
 * The stream opener against stand-ins for libp2p's connection, muxer and registrar (the real
 * paths are fast-path.spec.ts): every internal it cannot find is counted and logged at error
 * level once, and a fast-path stream gets the checks, metrics and peer-store record libp2p's own
 * path gives.
 */

const PROTOCOL = '/test/auth/1.0.0'

interface Seen { errors: unknown[][], tracked: Stream[], merged: Array<{ peer: string, protocols: string[] }> }

function components (seen: Seen, handlerOptions: Record<string, unknown> = { maxInboundStreams: 1, maxOutboundStreams: 1 }): AuthStreamComponents {
  const log = Object.assign(() => {}, { error: (...args: unknown[]) => { seen.errors.push(args) }, trace: () => {}, enabled: false })
  return {
    logger: { forComponent: () => log } as any,
    registrar: { getHandler: () => ({ handler: () => {}, options: handlerOptions }) },
    metrics: { trackProtocolStream: (s: Stream) => { seen.tracked.push(s) }, registerCounterGroup: () => ({ increment: () => {}, reset: () => {} }) } as any,
    peerStore: { merge: async (peer: any, data: { protocols: string[] }) => { seen.merged.push({ peer: String(peer), protocols: data.protocols }) } }
  }
}

const fresh = (): Seen => ({ errors: [], tracked: [], merged: [] })

function stream (id: string, direction: 'inbound' | 'outbound', protocol = ''): Stream & { aborted?: Error } {
  const s: any = { id, direction, protocol, status: 'open', abort: (err: Error) => { s.aborted = err; s.status = 'aborted' } }
  return s
}

function muxerWith (streams: Stream[]): StreamMuxer {
  const m: any = new TypedEventEmitter()
  m.status = 'open'
  m.streams = streams
  m.createStream = async () => { const s = stream(`out${streams.length}`, 'outbound'); streams.push(s); return s }
  return m
}

function connection (init: Partial<Record<'muxer' | 'multiplexer' | 'limits' | 'newStream', unknown>>): Connection {
  const streams: Stream[] = (init.muxer as any)?.streams ?? []
  return { id: 'c1', status: 'open', remotePeer: 'peer-r', streams, ...init } as unknown as Connection
}

describe('auth: the stream opener seam (stream-opener.ts)', () => {
  it('a multiplexed connection whose muxer is out of reach: the dialer uses newStream, counts a fallback, and names connection.muxer in one error line', async () => {
    const seen = fresh()
    const opener = authStreamOpener()
    opener.attach(components(seen))
    const negotiated = stream('n0', 'outbound', PROTOCOL)
    const c = connection({ multiplexer: '/yamux/1.0.0', newStream: async () => negotiated })
    for (let i = 0; i < 2; i++) {
      const opened = await opener.open(c, PROTOCOL, AbortSignal.timeout(1_000))
      expect(opened).to.deep.equal({ stream: negotiated, pipelined: false })
    }
    expect(opener.paths()).to.deep.equal({ dialer: { fast: 0, fallback: 2 }, listener: { fast: 0, fallback: 0 }, missing: { 'connection.muxer': 2 } })
    expect(seen.errors).to.have.length(1)
    expect(String(seen.errors[0][1])).to.equal('connection.muxer')
  })

  it('a connection with no muxer at all (not multiplexed): a fallback, but nothing named missing', async () => {
    const seen = fresh()
    const opener = authStreamOpener()
    opener.attach(components(seen))
    const c = connection({ newStream: async () => stream('n0', 'outbound', PROTOCOL) })
    await opener.open(c, PROTOCOL, AbortSignal.timeout(1_000))
    expect(opener.claim(c, () => {})).to.equal(false)
    expect(opener.paths()).to.deep.equal({ dialer: { fast: 0, fallback: 1 }, listener: { fast: 0, fallback: 0 }, missing: {} })
    expect(seen.errors).to.deep.equal([])
  })

  it('the dialer\'s bare stream is fast, tracked in metrics, and its peer is recorded in the peer store once authenticated', async () => {
    const seen = fresh()
    const opener = authStreamOpener()
    opener.attach(components(seen))
    const c = connection({ muxer: muxerWith([]), multiplexer: '/yamux/1.0.0' })
    const opened = await opener.open(c, PROTOCOL, AbortSignal.timeout(1_000))
    expect(opened.pipelined).to.equal(true)
    expect(opened.stream.protocol).to.equal(PROTOCOL)
    expect(seen.tracked).to.deep.equal([opened.stream])
    expect(seen.merged).to.deep.equal([])
    opener.authenticated(c, PROTOCOL)
    opener.authenticated(c, PROTOCOL)
    await Promise.resolve()
    expect(seen.merged).to.deep.equal([{ peer: 'peer-r', protocols: [PROTOCOL] }])
    expect(opener.paths().dialer).to.deep.equal({ fast: 1, fallback: 0 })
  })

  it('a fast-path stream beyond the protocol\'s stream limit is refused with libp2p\'s error and aborted; one on a limited connection too', async () => {
    const seen = fresh()
    const opener = authStreamOpener()
    opener.attach(components(seen))
    const first = stream('in0', 'inbound', PROTOCOL)
    const c = connection({ muxer: muxerWith([first]), multiplexer: '/yamux/1.0.0' })
    const second = stream('in1', 'inbound')
    ;(c.streams as Stream[]).push(second)
    expect(() => { opener.accepted(c, second, PROTOCOL, 'fast') }).to.throw().with.property('name', 'TooManyInboundProtocolStreamsError')
    expect((second as any).aborted?.name).to.equal('TooManyInboundProtocolStreamsError')
    const limited = connection({ muxer: muxerWith([]), multiplexer: '/yamux/1.0.0', limits: { bytes: 1n } })
    const onLimited = stream('in2', 'inbound')
    expect(() => { opener.accepted(limited, onLimited, PROTOCOL, 'fast') }).to.throw().with.property('name', 'LimitedConnectionError')
    expect(seen.tracked).to.deep.equal([])
    opener.authenticated(c, PROTOCOL)
    expect(seen.merged).to.deep.equal([])
  })

  it('a node that wrapped its transports: a muxer without the interceptor, an upgrade without a muxer factory, and an auth stream reaching the registrar while claimed are each named once', async () => {
    const seen = fresh()
    const opener = authStreamOpener()
    opener.attach(components(seen))
    // A wrapped factory: its muxers carry the interceptor, a bare muxer does not.
    const inner: StreamMuxerFactory = { protocol: '/fake/1', createStreamMuxer: () => muxerWith([]) }
    const factory = opener.muxer(() => inner)({})
    expect(opener.claim(connection({ muxer: muxerWith([]), multiplexer: '/fake/1' }), () => {})).to.equal(false)
    // The listener's upgrader of a wrapped transport is handed no muxer factory.
    const transport = opener.transport(() => ({ createListener: (o: any) => { void o.upgrader.upgradeInbound({}, {}); return {} } }) as unknown as Transport)({})
    transport.createListener({ upgrader: { upgradeInbound: async () => {} } } as any)
    await Promise.resolve()
    // A claimed connection whose auth stream libp2p delivered anyway.
    const claimed = connection({ muxer: factory.createStreamMuxer({} as any), multiplexer: '/fake/1' })
    expect(opener.claim(claimed, () => {})).to.equal(true)
    opener.accepted(claimed, stream('in0', 'inbound', PROTOCOL), PROTOCOL, 'fallback')
    expect(opener.paths()).to.deep.equal({
      dialer: { fast: 0, fallback: 0 },
      listener: { fast: 0, fallback: 1 },
      missing: { 'muxer.interceptor': 1, 'upgrader.muxerFactory': 1, 'muxer.listenerOrder': 1 }
    })
    expect(seen.errors.map(e => e[1])).to.deep.equal(['muxer.interceptor', 'upgrader.muxerFactory', 'muxer.listenerOrder'])
  })

  it('a node that wrapped nothing: the registrar path is a fallback with no error, and internals missing before attach are logged at attach', async () => {
    const seen = fresh()
    const plain = authStreamOpener()
    plain.attach(components(seen))
    expect(plain.claim(connection({ muxer: muxerWith([]), multiplexer: '/fake/1' }), () => {})).to.equal(false)
    plain.accepted(connection({ muxer: muxerWith([]), multiplexer: '/fake/1' }), stream('in0', 'inbound', PROTOCOL), PROTOCOL, 'fallback')
    expect(plain.paths()).to.deep.equal({ dialer: { fast: 0, fallback: 0 }, listener: { fast: 0, fallback: 1 }, missing: {} })
    expect(seen.errors).to.deep.equal([])

    const early = authStreamOpener()
    await early.open(connection({ multiplexer: '/yamux/1.0.0', newStream: async () => stream('n0', 'outbound', PROTOCOL) }), PROTOCOL, AbortSignal.timeout(1_000))
    const later = fresh()
    early.attach(components(later))
    expect(later.errors.map(e => e[1])).to.deep.equal(['connection.muxer'])
  })
})
