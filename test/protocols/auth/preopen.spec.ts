import { expect } from 'aegir/chai'
import { freshNonce } from '../../../protocols/auth/nonce.ts'
import { preopeningUpgrader, takePreopenedStream } from '../../../protocols/auth/preopen.ts'
import type { Connection, Stream, StreamMuxer, StreamMuxerFactory, Upgrader } from '@libp2p/interface'

/*
 * preopen.ts against stand-ins for the upgrader and the QUIC muxer factory (the real path runs in
 * every QUIC auth test: each dial's auth stream is the pre-opened one). What matters: the stream
 * is open before libp2p gets the muxer, libp2p gets that same muxer, and the stream is taken once.
 */

interface Recorder { events: string[], muxers: StreamMuxer[] }

function quicLikeFactory (rec: Recorder, open: () => Promise<Stream>): StreamMuxerFactory {
  return {
    protocol: 'quic',
    createStreamMuxer: () => {
      const muxer = { createStream: async () => { rec.events.push('createStream'); return open() } } as unknown as StreamMuxer
      rec.muxers.push(muxer)
      rec.events.push('muxer made')
      return muxer
    }
  }
}

/** What libp2p's upgrader does with the factory: makes the muxer and builds a Connection on it. */
function libp2pUpgrader (rec: Recorder): Upgrader {
  return {
    upgradeOutbound: async (maConn: any, opts: any) => {
      rec.events.push('libp2p upgrade')
      const muxer = opts.muxerFactory.createStreamMuxer(maConn)
      return { muxer, status: 'open' } as unknown as Connection
    }
  } as unknown as Upgrader
}

describe('auth: the dialer\'s pre-opened stream (preopen.ts)', () => {
  it('the stream is open before libp2p upgrades, libp2p gets the same muxer, and the stream is taken once', async () => {
    const rec: Recorder = { events: [], muxers: [] }
    const stream = { id: 's0' } as unknown as Stream
    const connection = await preopeningUpgrader(libp2pUpgrader(rec)).upgradeOutbound({} as any, { muxerFactory: quicLikeFactory(rec, async () => stream) } as any)
    expect(rec.events).to.deep.equal(['muxer made', 'createStream', 'libp2p upgrade'])
    expect(rec.muxers).to.have.length(1)
    expect((connection as any).muxer).to.equal(rec.muxers[0])
    expect(takePreopenedStream(connection)).to.equal(stream)
    expect(takePreopenedStream(connection)).to.equal(undefined)
  })

  it('a stream that cannot be opened does not stop the upgrade: nothing is kept and auth opens its own', async () => {
    const rec: Recorder = { events: [], muxers: [] }
    const connection = await preopeningUpgrader(libp2pUpgrader(rec)).upgradeOutbound({} as any, { muxerFactory: quicLikeFactory(rec, async () => { throw new Error('no stream credit') }) } as any)
    expect(rec.events).to.deep.equal(['muxer made', 'createStream', 'libp2p upgrade'])
    expect(takePreopenedStream(connection)).to.equal(undefined)
  })

  it('an upgrade without a transport muxer (TCP negotiates yamux later) is passed through untouched', async () => {
    const rec: Recorder = { events: [], muxers: [] }
    let seen: any
    const upgrader = { upgradeOutbound: async (_: any, opts: any) => { seen = opts; return { status: 'open' } as unknown as Connection } } as unknown as Upgrader
    const opts = { signal: AbortSignal.timeout(1_000) }
    await preopeningUpgrader(upgrader).upgradeOutbound({} as any, opts as any)
    expect(seen).to.equal(opts)
    expect(rec.events).to.deep.equal([])
  })

  it('a stream open that hangs is bounded by the dial\'s signal', async () => {
    const rec: Recorder = { events: [], muxers: [] }
    const controller = new AbortController()
    const upgrading = preopeningUpgrader(libp2pUpgrader(rec)).upgradeOutbound({} as any, { signal: controller.signal, muxerFactory: quicLikeFactory(rec, async () => new Promise<Stream>(() => {})) } as any)
    controller.abort(new Error('dial deadline'))
    const connection = await upgrading
    // The wait ends with the signal; the upgrade itself is libp2p's to refuse (its own signal check).
    expect(rec.events).to.deep.equal(['muxer made', 'createStream', 'libp2p upgrade'])
    expect(takePreopenedStream(connection)).to.equal(undefined)
  })
})

describe('auth nonces (nonce.ts)', () => {
  it('each is 32 fresh bytes, never handed out twice, and a copy the pool does not touch again', () => {
    const first = freshNonce()
    const kept = Uint8Array.from(first)
    const seen = new Set<string>([Buffer.from(first).toString('hex')])
    // Past several refills of the 64-nonce batch.
    for (let i = 0; i < 300; i++) {
      const n = freshNonce()
      expect(n.byteLength).to.equal(32)
      seen.add(Buffer.from(n).toString('hex'))
    }
    expect(seen.size).to.equal(301)
    expect(first).to.deep.equal(kept)
    expect(first.buffer.byteLength).to.equal(32)
  })
})
