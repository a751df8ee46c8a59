import { expect } from 'aegir/chai'
import { createTestCa, enroll, eventually, loopbackOptions, startNode } from '../../node/fixtures.ts'
import type { AuthStreamPaths } from '../../../protocols/auth/index.ts'
import type { MeshNode } from '../../../src/node/index.ts'
import type { TestCa } from '../../node/fixtures.ts'

/**
 * The auth fast paths rest on libp2p internals (stream-opener.ts). These dials between two real
 * mesh nodes assert, per side, that every connection's auth stream took the fast path and that
 * no internal was found missing: a libp2p release that renames one fails here, instead of
 * leaving every dial slower and every other test green.
 */
const DIALS = 2

const noPaths = { fast: 0, fallback: 0 }

describe('auth: every dial takes the fast paths (stream opener counts)', function () {
  let tca: TestCa
  const nodes: MeshNode[] = []

  before(async () => { tca = await createTestCa('fast-path') })
  afterEach(async () => { await Promise.all(nodes.splice(0).map(async n => { await n.stop() })) })
  after(async () => { await tca.close() })

  /** DIALS dialers each dial one listener over `transport`; every node's counts must show the fast paths only. */
  async function dialsOver (transport: 'quic' | 'tcp'): Promise<void> {
    const listener = await startNode(`l-${transport}`, await enroll(tca, `fp-l-${transport}`), tca, loopbackOptions(transport))
    nodes.push(listener)
    const dialers: MeshNode[] = []
    for (let i = 0; i < DIALS; i++) {
      const d = await startNode(`d${i}-${transport}`, await enroll(tca, `fp-d${i}-${transport}`), tca, loopbackOptions(transport))
      nodes.push(d)
      dialers.push(d)
      const peer = await d.dial(listener.getMultiaddrs()[0])
      expect(peer.transport).to.equal(transport)
      await eventually(() => listener.isAuthenticated(d.peerId))
    }
    for (const d of dialers) {
      const paths: AuthStreamPaths = d.auth.streamPaths()
      expect(paths).to.deep.equal({ dialer: { fast: 1, fallback: 0 }, listener: noPaths, missing: {} })
    }
    expect(listener.auth.streamPaths()).to.deep.equal({ dialer: noPaths, listener: { fast: DIALS, fallback: 0 }, missing: {} })
  }

  it('over QUIC: each dialer\'s auth stream is bare on the muxer and the listener claims every one (no fallback, nothing missing)', async () => {
    await dialsOver('quic')
  })

  it('over TCP+TLS: each dialer\'s auth stream is bare on the muxer and the listener claims every one (no fallback, nothing missing)', async () => {
    await dialsOver('tcp')
  })
})
