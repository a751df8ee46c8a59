import { ChainValidationError } from '../../src/pki/chain-errors.ts'
import { DEFAULT_MESH_POLICY } from '../../src/pki/chain-policy.ts'
import { crlShapeError } from '../../src/pki/crl-checks.ts'
import { parseCrl } from '../../src/pki/crl.ts'
import { refusal, relayIsMember } from '../gossip-common/refusal.ts'
import { decodeCrlMessage } from './codec.ts'
import { CRL_CODE_ACTIONS, CrlMessageError } from './errors.ts'
import type { CrlValidationCode } from './errors.ts'
import type { Crl } from '../../src/pki/crl.ts'

/**
 * The CRL-gossip validator: a pure function of the clock, the message and lookups into the node's
 * CRL state. It decides; the adapter applies (ChainVerifier.installCrl, then the node's onNewCrl
 * hook). A CRL is accepted only if a trusted CA signed it, its number is above the one held for
 * that CA, and it is not expired: only the CA can revoke, and an older CRL must never undo a
 * revocation. Cheap checks first: a stale or expired CRL is dropped
 * before its signature is checked, since it would change nothing anyway.
 */

/** What the validator needs of the node's CRL state; `ChainVerifier` fits as is. */
export interface CrlAuthority {
  /** The CRL number held for an issuer (name key, `crl.issuer.key`), if any. */
  crlNumber(issuerKey: string): bigint | undefined
  /** Throws ChainValidationError unless a trusted CA of the CRL's issuer name (cRLSign, path to a root) signed it. */
  checkCrlSigner(crl: Crl, now: Date): void
}

export interface CrlValidationInput {
  /** The gossip message data: the encoded CRL message. */
  messageBytes: Uint8Array
  /** The propagation source (PeerId text). */
  from: string
}

export interface CrlValidationContext {
  authority: CrlAuthority
  /** Tolerance for thisUpdate in the future, ms. */
  maxSkewMs: number
  /** Acceptance past nextUpdate, ms. @default 0 */
  graceMs?: number
  /** True while `peerId` is an authenticated, unrevoked mesh member. @default every relay is */
  isMember?(peerId: string): boolean
}

export interface CrlAccepted {
  action: 'accept'
  crl: Crl
  /** The number held before (undefined for the first CRL of this issuer). */
  previousNumber?: bigint
}

export interface CrlRefused {
  action: 'reject' | 'ignore'
  code: CrlValidationCode
}

export type CrlVerdict = CrlAccepted | CrlRefused

function refuse (code: CrlValidationCode): CrlRefused {
  return refusal(CRL_CODE_ACTIONS, code)
}

/** Validates one gossiped CRL message at `now` (ms since the epoch); never throws for bad input. */
export function validateCrlMessage (now: number, input: CrlValidationInput, ctx: CrlValidationContext): CrlVerdict {
  // [IGNORE] The relay is no longer an authenticated member (see relayIsMember).
  if (!relayIsMember(ctx.isMember, input.from)) { return refuse('RELAY_NOT_MEMBER') }

  // [REJECT] The message is at most MAX_CRL_MESSAGE_BYTES (checked before decoding) and is the
  // strict CBOR map { v, crl }. [IGNORE] A newer message version.
  let der: Uint8Array
  try {
    der = decodeCrlMessage(input.messageBytes).crl
  } catch (err) {
    return refuse(err instanceof CrlMessageError ? err.code : 'MALFORMED')
  }

  // [REJECT] The CRL parses as an X.509 v2 CRL (strict DER).
  let crl: Crl
  try {
    crl = parseCrl(der)
  } catch {
    return refuse('MALFORMED')
  }

  // [REJECT] It is a CRL the mesh uses: complete (no delta, no distribution-point scope), no
  // unknown critical extension, a non-critical cRLNumber, a nextUpdate.
  if (crlShapeError(crl, DEFAULT_MESH_POLICY, 0) != null || crl.crlNumber == null || crl.nextUpdate == null) { return refuse('CRL_INVALID') }

  // [IGNORE] Its number is above the one held for its issuer. An older or equal number changes
  // nothing: there is no un-revocation. Not scored: an honest node may still gossip an older CRL
  // it has not yet replaced.
  const held = ctx.authority.crlNumber(crl.issuer.key)
  if (held != null && crl.crlNumber <= held) { return refuse('NOT_NEWER') }

  // [IGNORE] thisUpdate is not beyond now + skew.
  if (crl.thisUpdate > now + ctx.maxSkewMs) { return refuse('NOT_YET_VALID') }

  // [IGNORE] It has not expired (nextUpdate + grace). Not scored: a node cut off from the CA may
  // hold nothing fresher.
  if (now > crl.nextUpdate + (ctx.graceMs ?? 0)) { return refuse('EXPIRED') }

  // [REJECT] A trusted CA signed it: a CA certificate of the CRL's issuer name from the trust
  // store (root or known intermediate with a path to a root), with cRLSign. Last: the one
  // signature check.
  try {
    ctx.authority.checkCrlSigner(crl, new Date(now))
  } catch (err) {
    return refuse(signerCode(err))
  }

  return held == null ? { action: 'accept', crl } : { action: 'accept', crl, previousNumber: held }
}

function signerCode (err: unknown): CrlValidationCode {
  if (!(err instanceof ChainValidationError)) { return 'BAD_SIGNATURE' }
  switch (err.code) {
    case 'UNKNOWN_ISSUER': return 'UNKNOWN_ISSUER'
    case 'CRL_NO_CRL_SIGN': return 'NO_CRL_SIGN'
    case 'CRL_INVALID': return 'CRL_INVALID'
    default: return 'BAD_SIGNATURE'
  }
}
