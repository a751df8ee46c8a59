import { encodePayload } from '../../../protocols/anomaly-gossip/codec.ts'
import { WIRE_VERSION } from '../../../protocols/anomaly-gossip/constants.ts'
import type { AnomalyEnvelope } from '../../../protocols/anomaly-gossip/codec.ts'

/** The codec tests' clock: a fixed instant, so encodings are the same on every run. */
export const T = Date.parse('2026-03-01T12:00:00Z')

/**
 * A well-formed envelope for codec tests: every field present with a plausible value, none of
 * them signed (the codec checks shape, not signatures). `over` replaces top-level fields.
 */
export function sampleEnvelope (over: Partial<AnomalyEnvelope> = {}): AnomalyEnvelope {
  return {
    v: WIRE_VERSION,
    message_id: 'node-a:0b8f7a52-4d0e-4c77-9d38-7f6f0d7c5e11',
    origin: 'node-a',
    timestamp: T,
    expiry: T + 3_600_000,
    payload: encodePayload({ type: 'sha256', value: 'ab'.repeat(32), meta: { rule: 'r-1', score: 9, high: true } }),
    origin_cert: [Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x01)],
    delegation: { key: new Uint8Array(32).fill(7), nbf: T - 3_600_000, exp: T + 3_600_000, sig: new Uint8Array(71).fill(3) },
    sig: new Uint8Array(64).fill(5),
    ...over
  }
}
