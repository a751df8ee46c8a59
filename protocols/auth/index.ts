/**
 * `/dadm-mesh/auth/1.0.0`: on every new connection both sides exchange their mesh certificate
 * chains and sign a transcript (label, role, both PeerIds, both fresh nonces) with their identity
 * key, the listener first (the dialer shows its certificate only to a listener that proved
 * itself). Until that succeeds the peer is unauthenticated: its streams get "na" or wait, and
 * connections waiting for auth are capped per source address (preauth-limits.ts).
 *
 * @example
 * ```ts
 * const node = await createLibp2p({
 *   services: { auth: meshAuth({ credentials, verifier }), ... }
 * })
 * node.services.auth.addEventListener('peer:authenticated', (evt) => { ... })
 * ```
 */
import { DefaultMeshAuth } from './mesh-auth.ts'
import type { MeshAuth, MeshAuthComponents, MeshAuthInit } from './types.ts'

export { PROTOCOL as AUTH_PROTOCOL, DEFAULT_DEADLINE_MS as AUTH_DEFAULT_DEADLINE_MS, MAX_FRAME_BYTES as AUTH_MAX_FRAME_BYTES, REAUTH_PROTOCOL, REAUTH_TRANSCRIPT_LABEL } from './constants.ts'
export { refreshLeadMs, sessionAction } from './session-watch.ts'
export type { SessionAction, SessionWatchOptions, WatchedSession } from './session-watch.ts'
export { AuthError, AUTH_ERROR_CODES, isAuthErrorCode } from './errors.ts'
export type { AuthErrorCode } from './errors.ts'
export { requireAuthenticated, guardRegisteredProtocols, isGuarded } from './guard.ts'
export type { AuthGate, GuardRegistrar } from './guard.ts'
export { verifyAuth, precheckAuth } from './verify-auth.ts'
export type { AuthCheckInput, AuthVerdict } from './verify-auth.ts'
export { buildTranscript, verifyTranscriptSignature } from './transcript.ts'
export type { AuthRole, TranscriptInput } from './transcript.ts'
export { encodeFrame, decodeFrame } from './codec.ts'
export type { AuthFrame, HelloFrame, ProofFrame, VerdictFrame } from './codec.ts'
export type { AuthenticatedPeer, AuthFailure, AuthRegistrar, IdentitySigner, LocalCredentials, MeshAuth, MeshAuthComponents, MeshAuthEvents, MeshAuthInit, PreauthRefused, ReauthenticatedPeer, RevocationPredicate, SessionEnded, TransportName } from './types.ts'
export { DefaultMeshAuth } from './mesh-auth.ts'
export { PreauthLimiter } from './preauth-limits.ts'
export type { PreauthLimits, PreauthRefusal } from './preauth-limits.ts'
export { PREAUTH_DEFAULTS } from './constants.ts'
export { sourceKey } from './source-address.ts'
export { authStreamOpener, Libp2pAuthStreamOpener } from './libp2p-stream-opener.ts'
export { AUTH_INTERNALS } from './stream-opener.ts'
export type { AuthInternal, AuthStreamComponents, AuthStreamOpener, AuthStreamPath, AuthStreamPaths, OpenedAuthStream } from './stream-opener.ts'

/** The auth service factory for libp2p's `services` map. */
export function meshAuth (init: MeshAuthInit): (components: MeshAuthComponents) => MeshAuth {
  return (components) => new DefaultMeshAuth(components, init)
}
