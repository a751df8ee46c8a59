import { lpStream } from '@libp2p/utils'
import { decodeFrame, encodeFrame } from './codec.ts'
import { MAX_FRAME_BYTES, MAX_READ_BUFFER_BYTES, VERDICT_FLUSH_MS, WIRE_VERSION } from './constants.ts'
import { AttestProtocolError } from './errors.ts'
import type { AttestFrame, ChallengeFrame } from './codec.ts'
import type { AttestFailureCode } from './errors.ts'
import type { EvidenceProver } from './prover.ts'
import type { PcrBank } from '../../src/attestation/tpm-reader.ts'
import type { Stream } from '@libp2p/interface'
import type { LengthPrefixedStream } from '@libp2p/utils'

/*
 * The byte-moving half of the attest protocol. The verifier opens the stream:
 *
 *   verifier                                   prover
 *   challenge {nonce, bank, pcrs}   ------->
 *                                               quote (TPM) or `none`
 *                                   <-------    evidence {ev}   (or refusal {code})
 *   verify
 *   verdict {ok, code?}             ------->    (logged; best effort)
 *
 * Every read and write carries `signal` (the round-trip deadline); errors come out as
 * AttestProtocolError with a bounded code.
 */

type Lp = LengthPrefixedStream<Stream>

function lp (stream: Stream): Lp {
  return lpStream(stream, { maxDataLength: MAX_FRAME_BYTES, maxBufferSize: MAX_READ_BUFFER_BYTES })
}

async function readFrame (l: Lp, signal: AbortSignal): Promise<AttestFrame> {
  return decodeFrame((await l.read({ signal })).subarray())
}

/** What the prover answered: evidence to verify, or a refusal code. */
export type ChallengeAnswer = { evidence: Record<string, unknown> } | { refused: AttestFailureCode | 'UNKNOWN' }

/**
 * Verifier side: sends the challenge and reads the answer. Returns the open length-prefixed
 * stream with the answer, so the caller can send its verdict after verifying.
 */
export async function sendChallenge (stream: Stream, challenge: { nonce: Uint8Array, bank: PcrBank, pcrs: number[] }, signal: AbortSignal): Promise<{ answer: ChallengeAnswer, finish(verdict: { ok: boolean, code?: AttestFailureCode }): Promise<void> }> {
  const l = lp(stream)
  try {
    await l.write(encodeFrame({ t: 1, v: WIRE_VERSION, nonce: challenge.nonce, bank: challenge.bank, pcrs: challenge.pcrs }), { signal })
    const frame = await readFrame(l, signal)
    let answer: ChallengeAnswer
    if (frame.t === 2) {
      answer = { evidence: frame.ev }
    } else if (frame.t === 3) {
      answer = { refused: frame.code }
    } else {
      throw new AttestProtocolError('MALFORMED_MESSAGE', `expected evidence, got frame type ${frame.t}`)
    }
    return {
      answer,
      finish: async (verdict) => {
        const flush = AbortSignal.any([signal, AbortSignal.timeout(VERDICT_FLUSH_MS)])
        try {
          if (!('refused' in answer)) { await l.write(encodeFrame({ t: 4, ...verdict }), { signal: flush }) }
          await stream.close({ signal: flush })
        } catch {
          stream.abort(new AttestProtocolError('CLOSED', 'attest stream close timed out'))
        }
      }
    }
  } catch (err) {
    const e = toAttestError(err, signal)
    if (stream.status === 'open') { stream.abort(e) }
    throw e
  }
}

/** What the prover side needs. */
export interface AnswerParams {
  prover: EvidenceProver
  identitySpki(): Uint8Array
  /** Refuse before reading the challenge (the peer asked too recently). */
  refuse?: AttestFailureCode
  signal: AbortSignal
}

/** Prover side: reads the challenge and answers it; returns the verifier's verdict when it sends one. */
export async function answerChallenge (stream: Stream, p: AnswerParams): Promise<{ ok: boolean, code?: AttestFailureCode } | undefined> {
  const l = lp(stream)
  try {
    const frame = await readFrame(l, p.signal)
    if (frame.t !== 1) { throw new AttestProtocolError('MALFORMED_MESSAGE', `expected a challenge, got frame type ${frame.t}`) }
    if (p.refuse != null) {
      await l.write(encodeFrame({ t: 3, code: p.refuse }), { signal: p.signal })
      await stream.close({ signal: p.signal })
      return undefined
    }
    let evidence
    try {
      evidence = await p.prover({ nonce: frame.nonce, pcrs: frame.pcrs, bank: frame.bank, identitySpki: p.identitySpki(), signal: p.signal })
    } catch (err) {
      await l.write(encodeFrame({ t: 3, code: 'PROVER_FAILED' }), { signal: p.signal })
      await stream.close({ signal: p.signal }).catch(() => {})
      throw new AttestProtocolError('PROVER_FAILED', 'our TPM could not answer the challenge', { cause: err })
    }
    await l.write(encodeFrame({ t: 2, ev: evidence as unknown as Record<string, unknown> }), { signal: p.signal })
    const verdict = await readFrame(l, p.signal).catch(() => undefined)
    await stream.close({ signal: p.signal }).catch(() => {})
    return verdict?.t === 4 ? { ok: verdict.ok, ...(verdict.code != null ? { code: verdict.code } : {}) } : undefined
  } catch (err) {
    const e = toAttestError(err, p.signal)
    if (stream.status === 'open') { stream.abort(e) }
    throw e
  }
}

/** Challenge frame for tests and tools. */
export function challengeFrame (nonce: Uint8Array, bank: PcrBank, pcrs: number[]): ChallengeFrame {
  return { t: 1, v: WIRE_VERSION, nonce, bank, pcrs }
}

/** Maps whatever libp2p or the codec threw to one bounded AttestProtocolError. */
export function toAttestError (err: any, signal?: AbortSignal): AttestProtocolError {
  if (err instanceof AttestProtocolError) { return err }
  if (signal?.aborted === true) { return new AttestProtocolError('TIMEOUT', 'attest round trip deadline passed', { cause: err }) }
  switch (err?.name) {
    case 'InvalidDataLengthError':
    case 'InvalidDataLengthLengthError':
    case 'StreamBufferError':
      return new AttestProtocolError('FRAME_TOO_LARGE', 'frame length prefix exceeds the maximum', { cause: err })
    case 'InvalidMessageLengthError':
      return new AttestProtocolError('MALFORMED_MESSAGE', 'bad frame length prefix', { cause: err })
    case 'UnsupportedProtocolError':
      return new AttestProtocolError('PROTOCOL_UNSUPPORTED', 'peer does not speak the attest protocol', { cause: err })
    case 'AbortError':
    case 'TimeoutError':
      return new AttestProtocolError('TIMEOUT', 'attest round trip deadline passed', { cause: err })
    default:
      return new AttestProtocolError('CLOSED', `attest stream ended: ${String(err?.name ?? 'error')}`, { cause: err })
  }
}
