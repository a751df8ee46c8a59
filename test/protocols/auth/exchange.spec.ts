import { randomBytes } from 'node:crypto'
import { lpStream, streamPair } from '@libp2p/utils'
import { expect } from 'aegir/chai'
import { runExchange } from '../../../protocols/auth/exchange.ts'
import { AuthError, encodeFrame } from '../../../protocols/auth/index.ts'
import { createTestCa, enroll, NOW, verifierFor } from '../../node/fixtures.ts'
import { noCertificate } from './hostile.ts'
import type { ExchangeParams } from '../../../protocols/auth/exchange.ts'
import type { LocalCredentials } from '../../../protocols/auth/index.ts'
import type { Enrolled, TestCa } from '../../node/fixtures.ts'

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
})
