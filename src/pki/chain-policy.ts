import { DEFAULT_KEY_POLICY } from './key-policy.ts'
import { EKU } from './x509-extensions.ts'
import type { KeyPolicy } from './key-policy.ts'
import type { KeyUsageName } from './x509-extensions.ts'

/** What verifyChain enforces beyond RFC 5280 path validation. Every field is optional. */
export interface ChainPolicy {
  /** Key hygiene for every key in the path, leaf included. @default DEFAULT_KEY_POLICY (RSA 2048-8192, P-256, P-384, Ed25519) */
  keyPolicy?: KeyPolicy
  /** Accept SHA-1 RSA signatures. @default false */
  allowSha1?: boolean
  /** Extended key usages the leaf must list. @default [clientAuth, serverAuth] (node certs serve both ends of a link) */
  requiredEku?: string[]
  /** The leaf must carry an extKeyUsage extension (RFC 5280 allows none, which means "any"). @default true */
  requireEku?: boolean
  /** anyExtendedKeyUsage in the leaf satisfies `requiredEku`. @default false (mesh certs name their purposes) */
  acceptAnyEku?: boolean
  /** Key usages the leaf must have when it carries keyUsage. @default ['digitalSignature'] (it signs auth transcripts) */
  leafKeyUsage?: KeyUsageName[]
  /** Accept a CA certificate (basicConstraints cA=TRUE) as the leaf. @default false (node certs are never CAs) */
  allowCaLeaf?: boolean
  /** The leaf must be X.509 v3. @default true */
  requireV3Leaf?: boolean
  /**
   * Certificates must carry key identifiers as RFC 5280 §4.2.1.1-2 requires of CAs: AKI in every
   * certificate that is not self-issued, SKI in every CA certificate. @default true
   */
  requireKeyIdentifiers?: boolean
  /** Most intermediates between leaf and anchor; self-issued ones do not count (RFC 5280 §6.1.4). @default 4 (the mesh uses 0 or 1) */
  maxIntermediates?: number
  /** Hard cap on certificates in a path, self-issued included. @default 16 */
  maxPathCertificates?: number
  /** Work budget: signature verifications per call (certificates and CRLs). @default 48 (about 4 ms of P-256) */
  maxSignatureChecks?: number
  /** Work budget: candidate issuers considered per call. @default 512 */
  maxCandidates?: number
  /** Every certificate below the anchor must be covered by a valid, fresh CRL from its issuer. @default false */
  requireRevocationInfo?: boolean
  /** Grace after a CRL's nextUpdate during which it still counts as fresh. @default 0 */
  crlGraceMs?: number
  /** CRLs must carry cRLNumber (RFC 5280 §5.2.3: conforming CAs MUST include it). @default true */
  requireCrlNumber?: boolean
  /** The leaf's `urn:dadm:node:` id must equal this. */
  expectedNodeId?: string
  /** The leaf's `urn:libp2p:peer:` id must equal this. */
  expectedPeerId?: string
}

export type ResolvedChainPolicy = Required<Omit<ChainPolicy, 'expectedNodeId' | 'expectedPeerId'>> &
Pick<ChainPolicy, 'expectedNodeId' | 'expectedPeerId'>

/** The policy the mesh applies to node certificates. */
export const DEFAULT_MESH_POLICY: ResolvedChainPolicy = Object.freeze({
  keyPolicy: DEFAULT_KEY_POLICY,
  allowSha1: false,
  requiredEku: [EKU.CLIENT_AUTH, EKU.SERVER_AUTH],
  requireEku: true,
  acceptAnyEku: false,
  leafKeyUsage: ['digitalSignature'],
  allowCaLeaf: false,
  requireV3Leaf: true,
  requireKeyIdentifiers: true,
  maxIntermediates: 4,
  maxPathCertificates: 16,
  maxSignatureChecks: 48,
  maxCandidates: 512,
  requireRevocationInfo: false,
  crlGraceMs: 0,
  requireCrlNumber: true
}) as ResolvedChainPolicy

/** Fills unset fields from DEFAULT_MESH_POLICY. */
export function resolvePolicy (policy: ChainPolicy = {}): ResolvedChainPolicy {
  const out: Record<string, unknown> = { ...DEFAULT_MESH_POLICY }
  for (const [k, v] of Object.entries(policy)) { if (v !== undefined) { out[k] = v } }
  return out as ResolvedChainPolicy
}
