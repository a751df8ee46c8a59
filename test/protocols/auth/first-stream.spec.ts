import { TypedEventEmitter } from '@libp2p/interface'
import { expect } from 'aegir/chai'
import { claimableMuxer, claimableTransport, claimInboundStreams, handBack, releaseStreams } from '../../../protocols/auth/first-stream.ts'
import type { Connection, Stream, StreamMuxer, StreamMuxerFactory, Transport } from '@libp2p/interface'

/*
 * first-stream.ts against stand-ins for the muxer and the transport (the real ones are covered
 * by every QUIC and TCP auth test): who gets which inbound stream.
 */

/** A muxer that only emits 'stream' events, and a Connection that holds it as libp2p's does. */
function fakeMuxer (): StreamMuxer & TypedEventEmitter<{ stream: CustomEvent<Stream> }> {
  return new TypedEventEmitter() as any
}

const fakeStream = (id: string): Stream => ({ id, abort: () => {} }) as unknown as Stream

function connectionOver (muxer: StreamMuxer, status = 'open'): Connection {
  return { muxer, status } as unknown as Connection
}

/** The factory libp2p would be given, and what its muxers emit. */
function wrappedFactory (): { factory: StreamMuxerFactory, made: Array<ReturnType<typeof fakeMuxer>> } {
  const made: Array<ReturnType<typeof fakeMuxer>> = []
  const inner: StreamMuxerFactory = { protocol: '/fake/1', createStreamMuxer: () => { const m = fakeMuxer(); made.push(m); return m as any } }
  return { factory: claimableMuxer(() => inner)({}), made }
}

/** What libp2p's Connection does with the muxer it is given: listens after us. */
function libp2pSees (muxer: ReturnType<typeof fakeMuxer>): string[] {
  const seen: string[] = []
  muxer.addEventListener('stream', (evt) => { seen.push(evt.detail.id) })
  return seen
}

describe('auth: claiming the inbound streams of a connection before auth (first-stream.ts)', () => {
  it('the claimant gets every stream until it releases the muxer; libp2p sees only the streams after', () => {
    const { factory, made } = wrappedFactory()
    expect(factory.protocol).to.equal('/fake/1')
    factory.createStreamMuxer({} as any)
    const muxer = made[0]
    const seen = libp2pSees(muxer)
    const claimed: string[] = []
    expect(claimInboundStreams(connectionOver(muxer), (s: Stream) => { claimed.push(s.id) })).to.equal(true)
    muxer.safeDispatchEvent('stream', { detail: fakeStream('s0') })
    muxer.safeDispatchEvent('stream', { detail: fakeStream('s4') })
    expect(claimed).to.deep.equal(['s0', 's4'])
    expect(seen).to.deep.equal([])
    releaseStreams(connectionOver(muxer))
    muxer.safeDispatchEvent('stream', { detail: fakeStream('s8') })
    expect(claimed).to.deep.equal(['s0', 's4'])
    expect(seen).to.deep.equal(['s8'])
  })

  it('streams that come before the claim wait for it: libp2p never answers them', () => {
    const { factory, made } = wrappedFactory()
    factory.createStreamMuxer({} as any)
    const muxer = made[0]
    const seen = libp2pSees(muxer)
    muxer.safeDispatchEvent('stream', { detail: fakeStream('s0') })
    expect(seen).to.deep.equal([])
    const claimed: string[] = []
    expect(claimInboundStreams(connectionOver(muxer), (s: Stream) => { claimed.push(s.id) })).to.equal(true)
    expect(claimed).to.deep.equal(['s0'])
    expect(seen).to.deep.equal([])
  })

  it('a muxer released without a claim hands the waiting streams to libp2p', () => {
    const { factory, made } = wrappedFactory()
    factory.createStreamMuxer({} as any)
    const muxer = made[0]
    const seen = libp2pSees(muxer)
    muxer.safeDispatchEvent('stream', { detail: fakeStream('s0') })
    releaseStreams(connectionOver(muxer))
    expect(seen).to.deep.equal(['s0'])
  })

  it('refuses a claim on a muxer without the interceptor, on a connection without a muxer, a second claim, and after release', () => {
    expect(claimInboundStreams(connectionOver(fakeMuxer()), () => {})).to.equal(false)
    expect(claimInboundStreams({ status: 'open' } as unknown as Connection, () => {})).to.equal(false)
    const { factory, made } = wrappedFactory()
    factory.createStreamMuxer({} as any)
    expect(claimInboundStreams(connectionOver(made[0]), () => {})).to.equal(true)
    expect(claimInboundStreams(connectionOver(made[0]), () => {})).to.equal(false)
    factory.createStreamMuxer({} as any)
    releaseStreams(connectionOver(made[1]))
    expect(claimInboundStreams(connectionOver(made[1]), () => {})).to.equal(false)
  })

  it('handBack gives a claimed stream to libp2p after release; on a closed connection the stream is aborted instead', () => {
    const { factory, made } = wrappedFactory()
    factory.createStreamMuxer({} as any)
    const muxer = made[0]
    const seen = libp2pSees(muxer)
    let taken: Stream | undefined
    claimInboundStreams(connectionOver(muxer), (s: Stream) => { taken = s })
    muxer.safeDispatchEvent('stream', { detail: fakeStream('s0') })
    expect(seen).to.deep.equal([])
    releaseStreams(connectionOver(muxer))
    handBack(connectionOver(muxer), taken as Stream)
    expect(seen).to.deep.equal(['s0'])
    let aborted: Error | undefined
    handBack(connectionOver(muxer, 'closed'), { id: 's8', abort: (err: Error) => { aborted = err } } as unknown as Stream)
    expect(aborted).to.be.instanceOf(Error)
    expect(seen).to.deep.equal(['s0'])
  })

  it('a wrapped transport hands the listener\'s upgrader a claimable muxer factory, and leaves the rest of the transport as it was', async () => {
    const made: Array<ReturnType<typeof fakeMuxer>> = []
    const given: any[] = []
    const inner = {
      [Symbol.toStringTag]: '@fake/transport',
      tag: 'inner',
      createListener (options: any) {
        // what a QUIC listener does on an inbound connection
        void options.upgrader.upgradeInbound({}, { muxerFactory: { protocol: '/quic', createStreamMuxer: () => { const m = fakeMuxer(); made.push(m); return m } } })
        void options.upgrader.upgradeInbound({}, {})
        return { listening: true }
      },
      dialFilter (addrs: unknown[]) { return addrs }
    }
    const upgrader = {
      async upgradeInbound (_maConn: unknown, opts: any) { given.push(opts); opts.muxerFactory?.createStreamMuxer({}) },
      other () { return 'untouched' }
    }
    const transport = claimableTransport(() => inner as unknown as Transport)({})
    expect(Object.prototype.toString.call(transport)).to.equal('[object @fake/transport]')
    expect((transport as any).tag).to.equal('inner')
    expect(transport.dialFilter([1, 2] as any)).to.deep.equal([1, 2])
    expect(transport.createListener({ upgrader } as any)).to.deep.equal({ listening: true })
    await Promise.resolve()
    expect(given).to.have.length(2)
    expect(given[0].muxerFactory.protocol).to.equal('/quic')
    expect(given[1]).to.deep.equal({})
    // the muxer the upgrader made can be claimed
    expect(claimInboundStreams(connectionOver(made[0]), () => {})).to.equal(true)
  })
})
