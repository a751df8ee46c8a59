import { streamPair } from '@libp2p/utils'
import { expect } from 'aegir/chai'
import { AuthError, guardRegisteredProtocols, isGuarded, requireAuthenticated } from '../../../protocols/auth/index.ts'
import type { AuthGate, AuthenticatedPeer } from '../../../protocols/auth/index.ts'
import type { Connection, StreamHandler, StreamHandlerOptions } from '@libp2p/interface'

const connection = { id: 'c1', remotePeer: { toString: () => 'peer' } } as unknown as Connection

function gate (outcome: Promise<AuthenticatedPeer>): AuthGate {
  return { waitForAuthentication: async () => outcome }
}

describe('auth guard (requireAuthenticated)', () => {
  it('runs the handler once the connection is authenticated', async () => {
    const [, inbound] = await streamPair()
    let calls = 0
    await requireAuthenticated(gate(Promise.resolve({} as AuthenticatedPeer)), () => { calls++ })(inbound, connection)
    expect(calls).to.equal(1)
  })

  it('aborts the stream and never runs the handler for an unauthenticated peer (NOT_AUTHENTICATED)', async () => {
    const [outbound, inbound] = await streamPair()
    let calls = 0
    const closed = new Promise<any>(resolve => { outbound.addEventListener('close', (evt) => { resolve(evt) }, { once: true }) })
    await requireAuthenticated(gate(Promise.reject(new AuthError('NOT_AUTHENTICATED', 'no'))), () => { calls++ })(inbound, connection)
    expect(calls).to.equal(0)
    expect(inbound.status).to.equal('aborted')
    await closed
  })

  it('delivers data and the end to a for-await handler even if the peer closed while we waited', async () => {
    const [outbound, inbound] = await streamPair()
    const { promise: authDone, resolve } = Promise.withResolvers<AuthenticatedPeer>()
    let received = ''
    const handled = requireAuthenticated(gate(authDone), async (stream) => {
      for await (const chunk of stream) { received += new TextDecoder().decode(chunk.subarray()) }
    })(inbound, connection)
    // the peer writes and closes its end before our side of auth is done
    outbound.send(new TextEncoder().encode('early request'))
    await outbound.close()
    await new Promise(resolve => setTimeout(resolve, 20))
    resolve({} as AuthenticatedPeer)
    await Promise.race([handled, new Promise((_resolve, reject) => setTimeout(() => { reject(new Error('handler hung')) }, 2_000))])
    expect(received).to.equal('early request')
  })

  it('wraps every registered protocol except the exempt ones, keeps their options, and does it once', async () => {
    const handlers = new Map<string, { handler: StreamHandler, options: StreamHandlerOptions }>([
      ['/ipfs/id/1.0.0', { handler: () => {}, options: { maxInboundStreams: 1 } }],
      ['/dadm-mesh/auth/1.0.0', { handler: () => {}, options: {} }],
      ['/dadm-mesh/kad/1.0.0', { handler: () => {}, options: { maxInboundStreams: 32 } }]
    ])
    const registrar = {
      getProtocols: () => [...handlers.keys()],
      getHandler: (p: string) => handlers.get(p) ?? (() => { throw new Error('unhandled') })(),
      handle: async (p: string, handler: StreamHandler, options: StreamHandlerOptions = {}) => {
        expect(options.force).to.equal(true)
        handlers.set(p, { handler, options })
      }
    }
    const g = gate(Promise.resolve({} as AuthenticatedPeer))
    expect(await guardRegisteredProtocols(registrar, g, ['/dadm-mesh/auth/1.0.0'])).to.deep.equal(['/ipfs/id/1.0.0', '/dadm-mesh/kad/1.0.0'])
    expect(isGuarded(handlers.get('/ipfs/id/1.0.0')!.handler)).to.equal(true)
    expect(isGuarded(handlers.get('/dadm-mesh/auth/1.0.0')!.handler)).to.equal(false)
    expect(handlers.get('/dadm-mesh/kad/1.0.0')!.options.maxInboundStreams).to.equal(32)
    expect(await guardRegisteredProtocols(registrar, g, ['/dadm-mesh/auth/1.0.0'])).to.deep.equal([])
  })
})
