/**
 * CA-signed mesh notices: "rotate now" (every node, or the listed node_ids, renews its
 * certificate within a bounded time) and trust bundles (the set of roots nodes trust, during a
 * CA rotation). A notice is CBOR, signed by the issuing CA (rotate-now) or a trusted root (trust
 * bundle), with a sequence number and an expiry, and verified against the roots the node trusts
 * at that moment. Delivery: `/dadm-mesh/rotate/1.0.0` pushes (each node forwards a new notice
 * once to its authenticated peers) and, where the node's gossip carries it, NOTICE_TOPIC.
 *
 * @example
 * ```ts
 * const bytes = await createNotice({ kind: 'rotate-now', seq, iat: now, exp: now + 3600_000 }, data => ca.signNotice(data, 'issuing'))
 * const verified = verifyNotice(Date.now(), decodeNotice(bytes), { roots, intermediates })
 * ```
 */
export { DEFAULT_DEADLINE_MS as NOTICE_DEFAULT_DEADLINE_MS, DEFAULT_TTL_MS as NOTICE_DEFAULT_TTL_MS, MAX_NOTICE_BYTES, MAX_TARGETS as NOTICE_MAX_TARGETS, MAX_TTL_MS as NOTICE_MAX_TTL_MS, NOTICE_LABEL, NOTICE_TOPIC, PROTOCOL as ROTATE_PROTOCOL } from './constants.ts'
export { isNoticeErrorCode, NOTICE_CODE_ACTIONS, NOTICE_ERROR_CODES, NoticeError } from './errors.ts'
export type { NoticeErrorCode } from './errors.ts'
export { createNotice, decodeNotice, encodeNotice, encodeNoticeBody, NOTICE_KINDS, signedBytes } from './codec.ts'
export type { DecodedNotice, NoticeBody, NoticeEnvelope, NoticeKind } from './codec.ts'
export { verifyNotice } from './verify.ts'
export type { NoticeTrust, VerifiedNotice } from './verify.ts'
export { NoticePush } from './push.ts'
export type { NoticePushHost, NoticePushInit, NoticePushOutcome, NoticeVerdict } from './push.ts'
export { NoticeGossip } from './gossip.ts'
export type { NoticeGossipInit } from './gossip.ts'
