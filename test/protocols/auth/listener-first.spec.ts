import { expect } from 'aegir/chai'
import { decodeFrame, encodeHello, encodeProof } from '../../../protocols/auth/codec.ts'
import { PROTOCOL, TRANSCRIPT_LABEL } from '../../../protocols/auth/constants.ts'
import { freshNonce } from '../../../protocols/auth/nonce.ts'
import { buildTranscript } from '../../../protocols/auth/transcript.ts'
import { wireChain } from '../../../protocols/auth/wire-chain.ts'
import { createTestCa, enroll, loopbackOptions, startNode, waitForEvent } from '../../node/fixtures.ts'
import { rawHostile } from './hostile.ts'
import { varintFrames } from './raw-mss.ts'
import type { HostileNode } from './hostile.ts'
import type { AuthFailure, AuthFrame } from '../../../protocols/auth/index.ts'
import type { MeshNode } from '../../../src/node/index.ts'
import type { Enrolled, TestCa } from '../../node/fixtures.ts'
import type { Stream } from '@libp2p/interface'

/**
 * The listener proves first: a mesh node D dialling an address sends no byte of its certificate
 * to a listener that has not proved itself. Each hostile listener is a real libp2p node on
 * loopback QUIC that records every byte D sends on the auth stream, until D hangs up.
 */
const DEADLINE_MS = 1_500

/** True when any `window`-byte run of `needle` occurs in `haystack`. */
function sharesRun (haystack: Uint8Array, needle: Uint8Array, window = 12): boolean {
  const hay = Buffer.from(haystack)
  for (let i = 0; i + window <= needle.byteLength; i++) {
    if (hay.indexOf(needle.subarray(i, i + window)) >= 0) { return true }
  }
  return false
}

describe('auth: the listener proves first; the dialer discloses nothing to one that does not (QUIC)', function () {
  let tca: TestCa
  let otherCa: TestCa
  let dialer: Enrolled
  let stranger: Enrolled
  let d: MeshNode
  const hostiles: HostileNode[] = []

  before(async () => {
    tca = await createTestCa('listener-first')
    otherCa = await createTestCa('foreign')
    dialer = await enroll(tca, 'lf-dialer')
    stranger = await enroll(otherCa, 'lf-stranger')
  })

  beforeEach(async () => {
    d = await startNode('d', dialer, tca, loopbackOptions('quic', { auth: { deadlineMs: DEADLINE_MS } }))
  })

  afterEach(async () => {
    await Promise.all(hostiles.splice(0).map(async h => { await h.stop() }))
    await d.stop()
  })

  after(async () => {
    await tca.close()
    await otherCa.close()
  })

  /**
   * A listener whose auth handler records everything D sends and answers D's first frame with
   * `reply(hello)`. Resolves with the bytes once D's stream ends or resets.
   */
  async function recordingListener (name: string, reply: (stream: Stream, hello: Uint8Array, hostile: HostileNode) => Promise<void>): Promise<{ hostile: HostileNode, recorded: Promise<Uint8Array> }> {
    const hostile = await rawHostile(name)
    hostiles.push(hostile)
    const { promise, resolve } = Promise.withResolvers<Uint8Array>()
    await hostile.handle(PROTOCOL, (stream) => {
      const chunks: Uint8Array[] = []
      let answered = false
      const done = (): void => { resolve(Buffer.concat(chunks)) }
      stream.addEventListener('close', done)
      stream.addEventListener('remoteCloseWrite', done)
      stream.addEventListener('message', (evt: any) => {
        chunks.push(evt.data.subarray())
        const first = varintFrames(Buffer.concat(chunks)).frames[0]
        if (!answered && first != null) {
          answered = true
          void reply(stream, first, hostile)
        }
      })
    })
    return { hostile, recorded: promise }
  }

  /** D dials `hostile`, fails with `code`; returns D's failure and what D sent. */
  async function dialAndRecord (hostile: HostileNode, recorded: Promise<Uint8Array>): Promise<{ failure: AuthFailure, sent: Uint8Array }> {
    const failed = waitForEvent<AuthFailure>(d, 'peer:auth-failed', f => f.peerId === hostile.peerId.toString(), DEADLINE_MS * 3)
    const dialled = d.dial(hostile.getMultiaddrs()[0]).catch(err => err)
    const failure = await failed
    expect((await dialled).code).to.equal('NOT_AUTHENTICATED')
    return { failure, sent: await recorded }
  }

  /** Nothing of D's certificate, chain, node_id or serial is in what D sent; its first frame is a bare nonce. */
  function expectNothingDisclosed (sent: Uint8Array): AuthFrame[] {
    const decoded = varintFrames(sent).frames.map(f => decodeFrame(f))
    expect(decoded[0]).to.have.all.keys('t', 'v', 'nonce')
    for (const cert of dialer.chain) { expect(sharesRun(sent, cert), 'a run of a certificate of D').to.equal(false) }
    expect(sharesRun(sent, dialer.credentials.signer.spki), 'a run of D\'s identity key').to.equal(false)
    expect(Buffer.from(sent).includes(Buffer.from(dialer.nodeId))).to.equal(false)
    expect(Buffer.from(sent).includes(Buffer.from(dialer.serialHex, 'hex'))).to.equal(false)
    for (const frame of decoded) { expect(frame).to.not.have.property('chain') }
    return decoded
  }

  it('a listener that answers garbage gets a nonce and nothing else (MALFORMED_MESSAGE)', async () => {
    const { hostile, recorded } = await recordingListener('garbage-listener', async (stream) => {
      stream.send(Uint8Array.from([5, 0x81, 0x81, 0x81, 0x81, 0x80]))
    })
    const { failure, sent } = await dialAndRecord(hostile, recorded)
    expect(failure.code).to.equal('MALFORMED_MESSAGE')
    const decoded = expectNothingDisclosed(sent)
    expect(decoded).to.have.lengthOf(1)
    expect(d.isAuthenticated(hostile.peerId)).to.equal(false)
  })

  it('a listener with a certificate from a foreign CA, properly signed, gets a nonce and the refusal only (CHAIN_INVALID / UNKNOWN_ISSUER)', async () => {
    const { hostile, recorded } = await recordingListener('foreign-listener', async (stream, hello, self) => {
      const opening = decodeFrame(hello)
      if (opening.t !== 1) { throw new Error('expected a hello') }
      const listenerNonce = freshNonce()
      // A proof the foreign key really made, over the real transcript of this connection.
      const transcript = buildTranscript('listener', {
        dialerPeerId: d.peerId.toMultihash().bytes,
        listenerPeerId: self.peerId.toMultihash().bytes,
        dialerNonce: opening.nonce,
        listenerNonce
      }, TRANSCRIPT_LABEL)
      const sig = await stranger.identity.sign(transcript)
      const out = [encodeHello(wireChain(stranger.chain), listenerNonce), encodeProof(sig)]
      stream.send(Buffer.concat(out.flatMap(f => [encodeVarint(f.byteLength), f])))
    })
    // The hostile's host key is not the one in the stranger's certificate; the chain check comes first.
    const { failure, sent } = await dialAndRecord(hostile, recorded)
    expect(failure.code).to.equal('CHAIN_INVALID')
    expect(failure.chainCode).to.equal('UNKNOWN_ISSUER')
    const decoded = expectNothingDisclosed(sent)
    // D's hello, then D's refusal: no proof, no chain
    expect(decoded.slice(1)).to.deep.equal([{ t: 3, ok: false, code: 'CHAIN_INVALID' }])
  })
})

function encodeVarint (n: number): Uint8Array {
  const out: number[] = []
  while (n >= 0x80) { out.push((n & 0x7f) | 0x80); n >>>= 7 }
  out.push(n)
  return Uint8Array.from(out)
}
