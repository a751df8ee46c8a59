/**
 * CRL reason codes (RFC 5280 §5.3.1) as a string union, so configs, CLI flags, logs and JSON
 * records carry names while CRLs carry the numbers. 7 is unused in RFC 5280; removeFromCRL (8)
 * only belongs in delta CRLs, which this CA does not issue, so it is not offered.
 */
export const REVOCATION_REASONS = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  privilegeWithdrawn: 9,
  aACompromise: 10
} as const

export type RevocationReason = keyof typeof REVOCATION_REASONS

/** True when `s` names a reason this CA accepts. */
export function isRevocationReason (s: string): s is RevocationReason {
  return Object.hasOwn(REVOCATION_REASONS, s)
}

/** The RFC 5280 number for a reason name. */
export function reasonCode (reason: RevocationReason): number {
  return REVOCATION_REASONS[reason]
}
