/**
 * The CA's structured event log: one JSON entry per security-relevant decision, for the operator
 * (pino, beside the request lines) and never carrying a secret. Tokens appear only by their id
 * (the first 16 hex digits of their hash), keys and CSRs never.
 *
 * Kept apart from the request log because one request can make several decisions (an enrollment
 * that supersedes a holder also revokes), and apart from the LevelDB audit trail because that one
 * records what changed the CA's state, while this one also records refusals, which change nothing.
 */

import type { TokenRefusal } from '../store/token-store.ts'

/** Why a token was not accepted; the HTTP answer is TOKEN_REJECTED for all of them, the log tells them apart. */
export type { TokenRefusal }

/** Every event kind and its fields (standard field names: node_id, serial, token_id, code). */
export type CaEvent =
  | { event: 'token-minted', token_id: string, node_id: string | null, uses: number, expires_at: number, replace: boolean, roles: string[] }
  | { event: 'enroll-accepted', node_id: string, token_id: string, serial: string, superseded: string[] }
  | { event: 'enroll-refused', code: string, node_id: string | null, token_id: string | null, token_refusal?: TokenRefusal }
  | { event: 'revoked', serials: string[], node_id: string | null, reason: string, by: string }
  // `replayed`: a retry from the same old certificate with the same new key, answered with the successor already issued
  | { event: 'renew-accepted', node_id: string, old_serial: string, serial: string, replayed?: true }
  | { event: 'renew-refused', code: string, node_id: string | null, serial: string | null }
  | { event: 'rotate-accepted', node_id: string, old_serial: string, serial: string, replayed?: true }
  | { event: 'rotate-refused', code: string, node_id: string | null, serial: string }
  | { event: 'node-unblocked', node_id: string, by: string }

/** Where CaService sends its events; a pino logger's `info` fits (`{ info: (o, msg) => ... }`). */
export interface CaEventSink {
  info(fields: CaEvent, msg: string): void
}

/** The sink used when the caller gives none: events are dropped (library use, unit tests). */
export const SILENT_EVENTS: CaEventSink = { info: () => {} }
