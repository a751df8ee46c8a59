import { sessionOf } from './connection-auth.ts'
import type { ConnectionAuth } from './connection-auth.ts'
import type { PreauthLimiter } from './preauth-limits.ts'
import type { ReplayCache } from './replay-cache.ts'
import type { AuthStreamOpener } from './stream-opener.ts'
import type { AuthenticatedPeer, LocalCredentials, MeshAuthComponents, MeshAuthEvents, MeshAuthInit } from './types.ts'
import type { CounterGroup, Logger } from '@libp2p/interface'

/**
 * What the parts of the auth service share: the first exchange, the re-auth queue and the
 * session upkeep each get this one object from `DefaultMeshAuth`, and nothing of each other but
 * what they are handed. The per-connection states live here, so that every part sees one truth.
 */
export interface AuthContext {
  readonly components: MeshAuthComponents
  readonly init: MeshAuthInit
  readonly log: Logger
  readonly deadlineMs: number
  now(): number
  readonly replay: ReplayCache
  readonly preauth: PreauthLimiter
  readonly states: Map<string, ConnectionAuth>
  readonly results?: CounterGroup
  readonly streams: AuthStreamOpener
  /** The service's own `safeDispatchEvent`. */
  emit<K extends keyof MeshAuthEvents>(type: K, detail: MeshAuthEvents[K]['detail']): void
  /** False once the service stopped: nothing new is tracked. */
  running(): boolean
}

/** A session counts only while the certificate it rests on is valid: expiry needs no sweep to take effect. */
export function liveSession (ctx: AuthContext, state: ConnectionAuth | undefined): AuthenticatedPeer | undefined {
  const peer = sessionOf(state)
  return peer != null && ctx.now() <= peer.notAfter ? peer : undefined
}

/** Our credentials for an exchange starting at this moment (a function is read each time, so a rotation shows at once). */
export function currentCredentials (ctx: AuthContext): LocalCredentials {
  return typeof ctx.init.credentials === 'function' ? ctx.init.credentials() : ctx.init.credentials
}
