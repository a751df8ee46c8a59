import { randomUUID } from 'node:crypto'
import { encode } from 'cborg'
import { encodeEnvelope, encodePayload } from '../../../protocols/anomaly-gossip/codec.ts'
import { DEFAULT_MAX_SKEW_MS, WIRE_VERSION } from '../../../protocols/anomaly-gossip/constants.ts'
import { signEnvelope } from '../../../protocols/anomaly-gossip/gossip-key.ts'
import { parseCertificate } from '../../../src/pki/certificate.ts'
import { ChainVerifier } from '../../../src/pki/chain-verifier.ts'
import { createTestCa, enroll, NOW } from '../../node/fixtures.ts'
import { epochOf } from './epochs.ts'
import type { AnomalyEnvelope, AnomalyPayload } from '../../../protocols/anomaly-gossip/codec.ts'
import type { GossipEpoch } from '../../../protocols/anomaly-gossip/gossip-key.ts'
import type { AnomalyValidationContext, SeenRecord } from '../../../protocols/anomaly-gossip/validate.ts'
import type { Enrolled, TestCa } from '../../node/fixtures.ts'

/**
 * Real mesh PKI for the gossip suites: a trusted CA (root + issuing intermediate, src/ca)
 * with enrolled nodes, and a foreign CA with one node of its own. One fixed clock (NOW).
 */

export { NOW }
export { epochFor, epochOf } from './epochs.ts'
export const MINUTE = 60_000
export const HOUR = 60 * MINUTE

export interface GossipPki {
  ca: TestCa
  foreign: TestCa
  /** Origin of most test messages. */
  a: Enrolled
  /** A valid relay, and "another node" whose certificate gets misused. */
  b: Enrolled
  /** A node the tests revoke. */
  r: Enrolled
  /** A node of the foreign CA. */
  f: Enrolled
  close(): Promise<void>
}

/** Creates both CAs and enrolls the nodes (about a second: key generation and CA setup). */
export async function createGossipPki (): Promise<GossipPki> {
  const ca = await createTestCa('gossip')
  const foreign = await createTestCa('foreign')
  const [a, b, r] = [await enroll(ca, 'node-a'), await enroll(ca, 'node-b'), await enroll(ca, 'node-r')]
  const f = await enroll(foreign, 'node-f')
  return {
    ca,
    foreign,
    a,
    b,
    r,
    f,
    close: async () => { await ca.close(); await foreign.close() }
  }
}

/** The chain a node puts into origin_cert: leaf and issuing CA (the root every node has). */
export function originChain (n: Enrolled): Uint8Array[] {
  return n.chain.slice(0, 2)
}

/** A ChainVerifier trusting `ca`'s root, as a node of that CA runs it. */
export function verifierFor (ca: TestCa): ChainVerifier {
  return new ChainVerifier({ roots: [ca.root], intermediates: [parseCertificate(ca.ca.issuingCertificate.der)] })
}

export const PAYLOAD: AnomalyPayload = { type: 'sha256', value: 'a'.repeat(64), meta: { rule: 'r-17', score: 7 } }

export interface EnvelopeOptions {
  now?: number
  ttlMs?: number
  messageId?: string
  origin?: string
  chain?: Uint8Array[]
  payload?: AnomalyPayload
  /** Raw payload bytes, bypassing encodePayload's checks (oversized or malformed payloads). */
  payloadBytes?: Uint8Array
  /** The epoch that signs. @default `n`'s (epochOf) */
  epoch?: GossipEpoch
}

/** An envelope from `n` (fields overridable), signed by `n`'s gossip epoch, not encoded. */
export function envelopeFrom (n: Enrolled, o: EnvelopeOptions = {}): AnomalyEnvelope {
  const ts = o.now ?? NOW
  const origin = o.origin ?? n.nodeId
  return signEnvelope({
    v: WIRE_VERSION,
    message_id: o.messageId ?? `${origin}:${randomUUID()}`,
    origin,
    timestamp: ts,
    expiry: ts + (o.ttlMs ?? HOUR),
    payload: o.payloadBytes ?? encodePayload(o.payload ?? PAYLOAD),
    origin_cert: o.chain ?? originChain(n)
  }, o.epoch ?? epochOf(n))
}

/** Encodes without the encoder's own refusals (to build hostile envelopes). */
export function rawEncode (e: AnomalyEnvelope | Record<string, unknown>): Uint8Array {
  return encode(e)
}

/** Encodes through the real encoder. */
export function encoded (e: AnomalyEnvelope): Uint8Array {
  return encodeEnvelope(e)
}

/** A validation context with an in-memory seen map and the given verifier. */
export function contextFor (verifier: ChainVerifier, extra: Partial<AnomalyValidationContext> = {}): AnomalyValidationContext & { seenMap: Map<string, SeenRecord> } {
  const seenMap = new Map<string, SeenRecord>()
  return { verifier, seen: (id) => seenMap.get(id), maxSkewMs: DEFAULT_MAX_SKEW_MS, seenMap, ...extra }
}
