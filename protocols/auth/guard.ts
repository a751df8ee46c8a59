import { AuthError } from './errors.ts'
import type { AuthenticatedPeer } from './types.ts'
import type { AbortOptions, Connection, StreamHandler, StreamHandlerOptions } from '@libp2p/interface'

/**
 * The rule "an unauthenticated peer gets no application protocol", enforced where streams arrive.
 *
 * A guarded handler first waits for the auth verdict of the stream's connection (bounded by the
 * auth deadline), then runs the real handler, or aborts the stream with AuthError
 * NOT_AUTHENTICATED. Waiting rather than refusing at once matters: an honest peer opens its first
 * streams the moment its own side of auth succeeds, which can be a moment before ours does.
 *
 * While we wait, the stream buffers what the peer sends (libp2p holds data for a stream with no
 * 'message' listener, up to its read buffer limit). One libp2p 3.3 edge is handled here: if the
 * peer also closed its write end during the wait, a handler that reads with `for await` would
 * never see the end (the iterator only listens for a later 'remoteCloseWrite'), so we announce it
 * again once the buffered data has been delivered. `byteStream`/`lpStream` readers are unaffected.
 *
 * Why wrapping and not libp2p's `registrar.use()` middleware: in libp2p 3.3.x inbound middleware
 * is broken for any protocol that has some (the connection appends the handler to the registered
 * middleware array itself, so handlers pile up and run again on later streams; js-libp2p PR
 * #3534). Wrapping the handler has no such sharing.
 */
export interface AuthGate {
  /** Resolves once `connection` is authenticated; throws AuthError NOT_AUTHENTICATED if it is not, or fails. */
  waitForAuthentication(connection: Connection, options?: AbortOptions): Promise<AuthenticatedPeer>
}

/** The part of libp2p's registrar the guard needs. */
export interface GuardRegistrar {
  getProtocols(): string[]
  getHandler(protocol: string): { handler: StreamHandler, options: StreamHandlerOptions }
  handle(protocol: string, handler: StreamHandler, options?: StreamHandlerOptions): Promise<void>
}

const GUARDED = Symbol.for('dadm-mesh/auth-guarded')

type GuardedHandler = StreamHandler & { [GUARDED]?: true }

/** Wraps `handler` so that it only ever sees streams of authenticated connections. */
export function requireAuthenticated (gate: AuthGate, handler: StreamHandler): StreamHandler {
  if ((handler as GuardedHandler)[GUARDED] === true) { return handler }
  const guarded: GuardedHandler = async (stream, connection) => {
    try {
      await gate.waitForAuthentication(connection)
    } catch (err: any) {
      stream.abort(err instanceof AuthError ? err : new AuthError('NOT_AUTHENTICATED', 'peer is not authenticated', {}, { cause: err }))
      return
    }
    if (stream.remoteWriteStatus === 'closed' && !stream.readableEnded) {
      stream.addEventListener('end', () => { stream.dispatchEvent(new Event('remoteCloseWrite')) }, { once: true })
    }
    await handler(stream, connection)
  }
  guarded[GUARDED] = true
  return guarded
}

/** True when `handler` came from `requireAuthenticated`. */
export function isGuarded (handler: StreamHandler): boolean {
  return (handler as GuardedHandler)[GUARDED] === true
}

/**
 * Re-registers every handled protocol except `exempt` with a guarded handler, keeping its stream
 * limits. Used once libp2p's services have registered theirs (identify, ping, kad-dht, gossip);
 * returns the protocols it wrapped. Handlers set synchronously, so no stream can slip in between.
 */
export async function guardRegisteredProtocols (registrar: GuardRegistrar, gate: AuthGate, exempt: readonly string[]): Promise<string[]> {
  const wrapped: string[] = []
  const pending: Array<Promise<void>> = []
  for (const protocol of registrar.getProtocols()) {
    if (exempt.includes(protocol)) { continue }
    const { handler, options } = registrar.getHandler(protocol)
    if (isGuarded(handler)) { continue }
    pending.push(registrar.handle(protocol, requireAuthenticated(gate, handler), { ...options, force: true }))
    wrapped.push(protocol)
  }
  await Promise.all(pending)
  return wrapped
}
