import { decodeFrame, encodeFrame, encodeHello, encodeOpening, encodeProof } from './codec.ts'
import { DEFAULT_DEADLINE_MS, FAILURE_FLUSH_MS } from './constants.ts'
import { AuthError } from './errors.ts'
import { frameReaderOf } from './frame-reader.ts'
import { directWrites } from './frame-writer.ts'
import { expectSelected, selectLines } from './pipelined-select.ts'
import { buildTranscript } from './transcript.ts'
import { precheckAuth, verifyAuth } from './verify-auth.ts'
import { wireChain } from './wire-chain.ts'
import type { AuthFrame } from './codec.ts'
import type { FrameChannel } from './frame-writer.ts'
import type { AuthRole, TranscriptInput } from './transcript.ts'
import type { LocalCredentials } from './types.ts'
import type { AuthCheckInput } from './verify-auth.ts'
import type { PeerIdentity } from '../../src/pki/peer-verifier.ts'
import type { Stream } from '@libp2p/interface'

/*
 * The byte-moving half of the auth protocol. The dialer opens the stream; two flights each way,
 * and the listener proves itself first:
 *
 *   dialer                                         listener
 *   hello_D {v, nonce}                ------->
 *                                                  sign
 *                                     <-------     hello_L {v, nonce, chain}, proof_L
 *   examine L's chain, check proof_L, sign
 *   proof_D {sig, chain}, verdict_D (ok) ----->
 *                                                  examine D's chain, check proof_D
 *                                     <-------     verdict_L (ok)
 *
 * The dialer discloses nothing about itself (no certificate, so no node_id or serial) until the
 * listener has proved it holds a mesh certificate for the PeerId the dialer reached: a spoofed
 * mDNS announcement or a stranger's address collects a nonce, nothing more. The cost moves to
 * the listener, which signs for whoever opens the stream, as a TLS server does; the auth
 * service bounds that with its per-address caps and back-off of connections waiting for auth.
 *
 * Each signature covers [label, signer's role, dialer PeerId, listener PeerId, dialer nonce,
 * listener nonce] (transcript.ts). Both nonces are fresh per handshake, so no signature verifies
 * in another session (no replay); the role differs, so the listener's proof can never be sent
 * back as the dialer's (no reflection); both PeerIds are the ones the QUIC/TLS handshake
 * authenticated, and each certificate names its PeerId, so a proof cannot be relayed onto
 * another connection. The order of frames adds nothing to bind: the signer's own role and the
 * PeerIds fix who spoke first.
 *
 * Either side that refuses sends a negative verdict {ok: false, code} in place of its next frame
 * and stops, so a peer always learns why. Success needs both verdicts: a peer is authenticated
 * on one side only if it is on both. Every read and write carries `signal` (the whole-exchange
 * deadline); errors come out as AuthError.
 */

/** What one end of the exchange needs. */
export interface ExchangeParams {
  /** Our role in the transcript: the connection's dialer or listener. */
  role: AuthRole
  /** We opened the auth stream (and so send the first hello). */
  opener: boolean
  /** Multihash bytes of the two PeerIds; "local" is ours. */
  localPeerId: Uint8Array
  remotePeerId: Uint8Array
  /** String form of the remote PeerId, compared with the certificate's SAN. */
  remotePeerIdString: string
  credentials: LocalCredentials
  nonce: Uint8Array
  signal: AbortSignal
  /** Transcript label. @default TRANSCRIPT_LABEL (REAUTH_TRANSCRIPT_LABEL for a re-auth) */
  label?: string
  now(): number
  /** Everything `verifyAuth` needs about the peer's chain and nonce, except the proof. */
  examineHello(hello: PeerHello): Promise<Omit<AuthCheckInput, 'transcript' | 'signature'>>
  /** As responder: a refusal of the peer by its PeerId alone, checked before our chain goes out. */
  refusePeer?(): AuthError | undefined
  /**
   * Called the moment we refuse the peer, before the verdict frame goes out: the refusal is on
   * record even if the peer, told why, hangs up before our write returns.
   */
  onRefuse(err: AuthError): void
  /**
   * The opener finishes when its proof is sent, as a TLS 1.3 client does after its Finished,
   * instead of waiting a further half round trip for the peer's "ok": the peer's identity is
   * proved by then, and the peer's guard holds our streams until it has checked our proof. The
   * peer's verdict is still read (within DEFAULT_DEADLINE_MS); a refusal, or no verdict, is
   * handed here, and the caller closes the connection. Without it the opener waits for the verdict.
   */
  onLateVerdict?(err: AuthError): void
  /**
   * Set when the opener's stream is bare (see pipelined-select.ts): the multistream-select lines
   * for this protocol go out with the hello, and their answers are read before the peer's hello.
   */
  select?: string
  /**
   * The responder's select answer when it was held back (pipelined-select.ts `answerSelect`):
   * written ahead of our first frame, whichever that is.
   */
  replyPrefix?: Uint8Array[]
}

/** What the peer presented: its chain (from its hello or its proof) and its nonce. */
export interface PeerHello { chain: Uint8Array[], nonce: Uint8Array }

type Examined = Omit<AuthCheckInput, 'transcript' | 'signature'>
type Lp = FrameChannel

/** Runs the exchange on an open auth stream; resolves with the peer's identity or throws AuthError. */
export async function runExchange (stream: Stream, p: ExchangeParams): Promise<PeerIdentity> {
  // The reader answerSelect used, when the listener claimed this stream (one reader per stream).
  const lp = directWrites(frameReaderOf(stream), stream, p.replyPrefix)
  try {
    const identity = p.opener ? await asOpener(lp, stream, p) : await asResponder(lp, stream, p)
    // After an early finish the stream stays open for the peer's verdict (lateVerdict closes it).
    if (!p.opener || p.onLateVerdict == null) { closeQuietly(stream) }
    return identity
  } catch (err: any) {
    const authErr = toAuthError(err, p.signal)
    // After a verdict the stream is closing gracefully; the service closes the connection later.
    if (authErr.verdictSent !== true && stream.status === 'open') { stream.abort(authErr) }
    throw authErr
  }
}

/** The transcript fields in connection order, whoever opened the stream. */
function transcriptOf (p: ExchangeParams, remoteNonce: Uint8Array): TranscriptInput {
  return p.role === 'dialer'
    ? { dialerPeerId: p.localPeerId, listenerPeerId: p.remotePeerId, dialerNonce: p.nonce, listenerNonce: remoteNonce }
    : { dialerPeerId: p.remotePeerId, listenerPeerId: p.localPeerId, dialerNonce: remoteNonce, listenerNonce: p.nonce }
}

const otherRole = (role: AuthRole): AuthRole => role === 'dialer' ? 'listener' : 'dialer'

async function asOpener (lp: Lp, stream: Stream, p: ExchangeParams): Promise<PeerIdentity> {
  const options = { signal: p.signal }
  const ourHello = encodeOpening(p.nonce)
  if (p.select == null) {
    await lp.write(ourHello, options)
  } else {
    await lp.writeV([...selectLines(p.select), ourHello], options)
    await expectSelected(lp, p.select, options)
  }
  const hello = await readFrame(lp, 1, options)
  // [REJECT] a responder that shows no chain has proved nothing; it hears why, and nothing of ours
  if (hello.chain == null) { throw await refuse(p, lp, stream, shapeError('the responder\'s hello carries no chain')) }
  const t = transcriptOf(p, hello.nonce)
  // Our proof needs only the two nonces: it is signed while we check the peer's hello and proof,
  // and sent only if they pass (a signature that never leaves discloses nothing).
  const ourSig = sign(p, buildTranscript(p.role, t, p.label))
  ourSig.catch(() => {})
  const examined = await examine(lp, stream, p, { chain: hello.chain, nonce: hello.nonce })
  const proof = await readFrame(lp, 2, options)
  if (proof.chain != null) { throw await refuse(p, lp, stream, shapeError('the responder\'s proof carries a chain')) }
  const identity = await decide(lp, stream, p, examined, buildTranscript(otherRole(p.role), t, p.label), proof.sig)
  // The peer has proved itself: only now does our chain go out, with our proof.
  const written = lp.writeV([encodeProof(await ourSig, wireChain(p.credentials.chain)), encodeFrame({ t: 3, ok: true })], options)
  if (p.onLateVerdict == null) {
    await written
    await readFrame(lp, 3, options)
  } else {
    // Early finish: the frames are queued on the stream; a failed write shows as a late verdict.
    lateVerdict(lp, stream, p, written, p.onLateVerdict)
  }
  return identity
}

/** A frame of the right type in the wrong shape for its place in the exchange. */
function shapeError (what: string): AuthError {
  return new AuthError('MALFORMED_MESSAGE', what, { verdictSent: true })
}

/** After an early finish: once our proof is queued, waits for the peer's verdict; anything but "ok" in time goes to `report`. */
function lateVerdict (lp: Lp, stream: Stream, p: ExchangeParams, written: Promise<void>, report: (err: AuthError) => void): void {
  // The verdict's deadline (two signals and a timer) is made in a later turn, not in the one
  // that finishes the dial.
  let signal = p.signal
  written
    .then(async () => { await new Promise(resolve => setImmediate(resolve)) })
    .then(async () => {
      signal = AbortSignal.any([p.signal, AbortSignal.timeout(DEFAULT_DEADLINE_MS)])
      return readFrame(lp, 3, { signal })
    })
    .then(() => { closeQuietly(stream) }, (err) => {
      const authErr = toAuthError(err, signal)
      if (stream.status === 'open') { stream.abort(authErr) }
      report(authErr)
    })
}

/** Closes our end of a finished exchange in the background: our last frame is queued already. */
function closeQuietly (stream: Stream): void {
  stream.close({ signal: AbortSignal.timeout(FAILURE_FLUSH_MS) }).catch(() => { stream.abort(new AuthError('CLOSED', 'auth stream close timed out')) })
}

async function asResponder (lp: Lp, stream: Stream, p: ExchangeParams): Promise<PeerIdentity> {
  const options = { signal: p.signal }
  const hello = await readFrame(lp, 1, options)
  // [REJECT] an opener that sends its chain first is not following this version's order
  if (hello.chain != null) { throw await refuse(p, lp, stream, shapeError('the opener\'s hello carries a chain')) }
  // [REJECT] a peer we refuse by PeerId (revoked, backed off) hears why, and nothing of ours
  const byPeerId = p.refusePeer?.()
  if (byPeerId != null) { throw await refuse(p, lp, stream, byPeerId) }
  const t = transcriptOf(p, hello.nonce)
  const ourHello = encodeHello(wireChain(p.credentials.chain), p.nonce)
  await lp.writeV([ourHello, encodeProof(await sign(p, buildTranscript(p.role, t, p.label)))], options)
  const proof = await readFrame(lp, 2, options)
  // [REJECT] the opener's proof must carry the chain its key is certified by
  if (proof.chain == null) { throw await refuse(p, lp, stream, shapeError('the opener\'s proof carries no chain')) }
  const examined = await examine(lp, stream, p, { chain: proof.chain, nonce: hello.nonce })
  const identity = await decide(lp, stream, p, examined, buildTranscript(otherRole(p.role), t, p.label), proof.sig)
  await readFrame(lp, 3, options)
  await lp.write(encodeFrame({ t: 3, ok: true }), options)
  return identity
}

/** Examines the peer's chain and nonce and refuses at once what needs no proof to refuse. */
async function examine (lp: Lp, stream: Stream, p: ExchangeParams, hello: PeerHello): Promise<Examined> {
  const examined = await p.examineHello(hello)
  const early = precheckAuth(p.now(), examined)
  if (early != null) {
    throw await refuse(p, lp, stream, new AuthError(early.code, `peer refused before proof: ${early.code}`, { chainCode: early.chainCode, verdictSent: true }))
  }
  return examined
}

/** The full decision on the peer's proof; refuses (and says why) or returns its identity. */
async function decide (lp: Lp, stream: Stream, p: ExchangeParams, examined: Examined, transcript: Uint8Array, signature: Uint8Array): Promise<PeerIdentity> {
  const verdict = verifyAuth(p.now(), { ...examined, transcript, signature })
  if (!verdict.ok) {
    throw await refuse(p, lp, stream, new AuthError(verdict.code, `peer refused: ${verdict.code}`, { chainCode: verdict.chainCode, verdictSent: true }))
  }
  return verdict.identity
}

async function sign (p: ExchangeParams, transcript: Uint8Array): Promise<Uint8Array> {
  try {
    return await p.credentials.signer.sign(transcript)
  } catch (err: any) {
    throw new AuthError('LOCAL_CREDENTIALS', 'our identity signer failed', {}, { cause: err })
  }
}

/** Reads the next frame and insists on its type; a negative verdict in its place ends the exchange. */
async function readFrame<T extends AuthFrame['t']> (lp: Lp, type: T, options: { signal: AbortSignal }): Promise<Extract<AuthFrame, { t: T }>> {
  const frame = decodeFrame((await lp.read(options)).subarray())
  if (frame.t === 3 && !frame.ok) {
    throw new AuthError('REMOTE_REJECTED', `peer refused us: ${frame.code ?? 'no code'}`, { remoteCode: frame.code })
  }
  if (frame.t !== type) {
    throw new AuthError('MALFORMED_MESSAGE', `expected frame type ${type}, got ${frame.t}`)
  }
  return frame as Extract<AuthFrame, { t: T }>
}

/**
 * Records the refusal, then tells the peer why and flushes the frame (at most FAILURE_FLUSH_MS).
 * The service waits a moment before closing the connection, so that the peer can log our code.
 * Returns the error for the caller to throw.
 */
async function refuse (p: ExchangeParams, lp: Lp, stream: Stream, err: AuthError): Promise<AuthError> {
  p.onRefuse(err)
  const signal = AbortSignal.any([p.signal, AbortSignal.timeout(FAILURE_FLUSH_MS)])
  try {
    await lp.write(encodeFrame({ t: 3, ok: false, code: err.code }), { signal })
    await stream.close({ signal })
  } catch {
    // best effort: the refusal stands whether or not the peer heard it
  }
  return err
}

/** Maps whatever libp2p or the codec threw to one bounded AuthError. */
export function toAuthError (err: any, signal?: AbortSignal): AuthError {
  if (err instanceof AuthError) { return err }
  if (signal?.aborted === true) {
    const reason = signal.reason
    return reason instanceof AuthError ? reason : new AuthError('TIMEOUT', 'auth deadline passed', {}, { cause: err })
  }
  switch (err?.name) {
    case 'InvalidDataLengthError':
    case 'InvalidDataLengthLengthError':
    case 'StreamBufferError':
      return new AuthError('FRAME_TOO_LARGE', 'frame length prefix exceeds the maximum', {}, { cause: err })
    case 'InvalidMessageLengthError':
      return new AuthError('MALFORMED_MESSAGE', 'bad frame length prefix', {}, { cause: err })
    case 'UnsupportedProtocolError':
      return new AuthError('PROTOCOL_UNSUPPORTED', 'peer does not speak the auth protocol', {}, { cause: err })
    case 'AbortError':
    case 'TimeoutError':
      return new AuthError('TIMEOUT', 'auth deadline passed', {}, { cause: err })
    default:
      return new AuthError('CLOSED', `auth stream ended: ${String(err?.name ?? 'error')}`, {}, { cause: err })
  }
}
