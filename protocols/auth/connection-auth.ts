import { MeshError } from '../../src/errors.ts'
import { AuthError } from './errors.ts'
import { transportOf } from './transport-name.ts'
import type { SelectRequest } from './pipelined-select.ts'
import type { AuthenticatedPeer, AuthFailure } from './types.ts'
import type { Connection, Stream } from '@libp2p/interface'

/** What the auth service keeps per connection, from its first sight of it to its end. */
export interface ConnectionAuth {
  connection: Connection
  startedAt: number
  controller: AbortController
  timer?: ReturnType<typeof setTimeout>
  done: Promise<AuthenticatedPeer>
  resolve(peer: AuthenticatedPeer): void
  reject(err: AuthError): void
  outcome?: AuthenticatedPeer | AuthError
  streamSeen: boolean
  /** Pending close of a refused connection (after the verdict had time to arrive). */
  closer?: ReturnType<typeof setTimeout>
  /** The chain the peer presented in the exchange the session rests on (kept to re-verify it). */
  chain?: Uint8Array[]
  /** SPKI of the identity key we presented in that exchange. */
  localSpki?: Uint8Array
  /** Start order of the re-auth whose credentials `localSpki` is (0: the first exchange). */
  localBegun?: number
  /** Real time (performance.now) of the last re-auth the peer started. */
  reauthInAt?: number
  /** Our re-auths of this connection run one after another, so the last one carries our newest credentials. */
  reauthQueue?: Promise<unknown>
  /** Clock time the session watch last asked for a re-auth. */
  refreshAskedAt?: number
  /** Inbound streams waiting, unanswered, for the verdict (first-stream.ts), with the select lines read from them. */
  held?: Array<{ stream: Stream, request: SelectRequest }>
}

/** The outcome of a state, when it is a success. */
export function sessionOf (state: ConnectionAuth | undefined): AuthenticatedPeer | undefined {
  const o = state?.outcome
  return o == null || o instanceof AuthError ? undefined : o
}

/** Maps a verifier's refusal to the chain part of the check input; codes stay bounded. */
export function verifierRefusal (err: any): { code: 'CHAIN_INVALID' | 'REVOKED' | 'NO_CERTIFICATE', chainCode?: string } {
  const code: unknown = err?.code
  if (code === 'REVOKED') { return { code: 'REVOKED' } }
  if (code === 'NO_CERTIFICATE') { return { code: 'NO_CERTIFICATE' } }
  if (typeof err?.chainCode === 'string') { return { code: 'CHAIN_INVALID', chainCode: err.chainCode } }
  // A MeshError's code is bounded by its class; anything else is named, not echoed.
  return { code: 'CHAIN_INVALID', chainCode: err instanceof MeshError ? err.code : 'VERIFIER_ERROR' }
}

/** One exchange per connection: a second auth stream is refused without touching the first. */
export function refuseSecondStream (stream: Stream): void {
  stream.abort(new AuthError('MALFORMED_MESSAGE', 'second auth stream on one connection'))
}

/** The `peer:auth-failed` record of a connection's auth and the error that ended it. */
export function failureOf (state: ConnectionAuth, err: AuthError): AuthFailure {
  const c = state.connection
  const failure: AuthFailure = {
    peerId: c.remotePeer.toString(),
    connectionId: c.id,
    direction: c.direction,
    remoteAddr: c.remoteAddr.toString(),
    code: err.code,
    elapsedMs: performance.now() - state.startedAt
  }
  if (err.chainCode != null) { failure.chainCode = err.chainCode }
  if (err.remoteCode != null) { failure.remoteCode = err.remoteCode }
  return failure
}

/** What a session adds to the identity the exchange proved. */
type SessionFields = 'connectionId' | 'direction' | 'remoteAddr' | 'transport' | 'authenticatedAt' | 'elapsedMs'

/** The session a proved identity opens on `connection`: the first exchange's and a re-auth's alike. */
export function sessionFor (identity: Omit<AuthenticatedPeer, SessionFields>, connection: Connection, now: number, startedAt: number): AuthenticatedPeer {
  return {
    ...identity,
    connectionId: connection.id,
    direction: connection.direction,
    remoteAddr: connection.remoteAddr.toString(),
    transport: transportOf(connection.remoteAddr.toString()),
    authenticatedAt: now,
    elapsedMs: performance.now() - startedAt
  }
}
