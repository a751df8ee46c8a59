import { Type } from '@sinclair/typebox'
import { REVOCATION_REASONS } from '../pki/revocation-reasons.ts'
import { TOKEN_PATTERN } from '../store/token-store.ts'
import { ENROLLMENT_ERRORS } from './errors.ts'
import type { Static } from '@sinclair/typebox'

/**
 * Request and response schemas (typebox, i.e. JSON Schema). Fastify validates requests against
 * them with additional properties refused and no type coercion (see `server.ts`), serializes
 * responses through them, and @fastify/swagger turns them into the OpenAPI document.
 */

/**
 * node_id: letters, digits, '.', '_' and '-', starting with a letter or digit, at most 64
 * characters. So no '/', no NUL, no '..' path step can reach a file name or a log line.
 */
export const NODE_ID_PATTERN = '^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$'
/** A certificate serial as hex: 16 bytes here, but up to the RFC 5280 bound of 20 octets. */
export const SERIAL_PATTERN = '^[0-9A-Fa-f]{1,40}$'
/** Largest PEM CSR accepted: a P-256 or Ed25519 CSR is under 1 KiB; RSA-8192 about 3 KiB. */
export const MAX_CSR_CHARS = 16_384

const NodeId = Type.String({ pattern: NODE_ID_PATTERN, maxLength: 64, description: 'node identifier' })
const Csr = Type.String({ minLength: 1, maxLength: MAX_CSR_CHARS, description: 'one PEM CERTIFICATE REQUEST block, or the DER in base64' })

/**
 * Evidence handed to the attestation verifier hook (seed §7.1: `{ type, payload }`); `type`
 * picks the verifier. Further fields are allowed for evidence formats that need them.
 */
export const Attestation = Type.Object({
  type: Type.String({ pattern: '^[a-z0-9_-]{1,32}$', description: 'evidence type: "tpm_quote" or "none"' }),
  payload: Type.Optional(Type.String({ maxLength: 32_768, description: 'evidence, base64 (other evidence formats)' })),
  // tpm_quote (src/attestation/evidence.ts); the verifier checks sizes and contents
  ak_public: Type.Optional(Type.String({ maxLength: 4096, description: 'AK TPM2B_PUBLIC, base64' })),
  ek_public: Type.Optional(Type.String({ maxLength: 4096, description: 'EK TPM2B_PUBLIC, base64' })),
  quote: Type.Optional(Type.String({ maxLength: 4096, description: 'TPMS_ATTEST as signed, base64' })),
  signature: Type.Optional(Type.String({ maxLength: 4096, description: 'TPMT_SIGNATURE, base64' })),
  nonce: Type.Optional(Type.String({ maxLength: 128, description: 'the nonce from GET /v1/enroll/nonce, base64' })),
  pcrs: Type.Optional(Type.Object({
    alg: Type.String({ maxLength: 16 }),
    values: Type.Record(Type.String({ maxLength: 2 }), Type.String({ maxLength: 128 }), { maxProperties: 64 })
  }, { additionalProperties: false }))
}, { additionalProperties: true, maxProperties: 16, description: 'attestation evidence, passed to the verifier hook' })
export type AttestationEvidence = Static<typeof Attestation>

export const EnrollRequest = Type.Object({
  token: Type.String({ pattern: TOKEN_PATTERN, maxLength: 64, description: 'one-time enrollment token' }),
  csr: Csr,
  attestation: Type.Optional(Attestation),
  node_id: Type.Optional(NodeId)
}, { additionalProperties: false })
export type EnrollRequestBody = Static<typeof EnrollRequest>

export const RotateRequest = Type.Object({
  csr: Csr,
  attestation: Type.Optional(Attestation),
  current_cert_serial: Type.String({ pattern: SERIAL_PATTERN, maxLength: 40 })
}, { additionalProperties: false })
export type RotateRequestBody = Static<typeof RotateRequest>

/** Largest PEM certificate chain a renewal carries: leaf and issuing chain, a few KiB. */
export const MAX_CHAIN_PEM_CHARS = 32_768

export const RenewRequest = Type.Object({
  certificate: Type.String({ minLength: 1, maxLength: MAX_CHAIN_PEM_CHARS, description: 'the expired (or expiring) certificate, PEM, then its issuing chain' }),
  csr: Csr,
  nonce: Type.String({ minLength: 1, maxLength: 128, description: 'the nonce from GET /v1/renew/nonce, base64' }),
  proof: Type.String({ minLength: 1, maxLength: 512, description: 'signature by the key of `certificate` over CBOR ["dadm-mesh/renew/1", nonce, CSR DER], base64' }),
  attestation: Type.Optional(Attestation)
}, { additionalProperties: false })
export type RenewRequestBody = Static<typeof RenewRequest>

/** `GET /v1/renew/nonce`: a single-use nonce the old identity key signs to prove possession. */
export const RenewNonceResponse = Type.Object({
  nonce: Type.String({ description: '32 random bytes, base64; single use' }),
  expires_at: Type.String({ format: 'date-time' })
})

const Reason = Type.Union(Object.keys(REVOCATION_REASONS).map(r => Type.Literal(r)), { description: 'RFC 5280 reason name' })

export const RevokeRequest = Type.Object({
  serial: Type.Optional(Type.String({ pattern: SERIAL_PATTERN, maxLength: 40 })),
  node_id: Type.Optional(NodeId),
  reason: Type.Optional(Reason),
  /** With node_id: block it even though this CA never issued to it (else 404 UNKNOWN_NODE_ID). */
  block_unknown: Type.Optional(Type.Boolean())
}, { additionalProperties: false, minProperties: 1 })
export type RevokeRequestBody = Static<typeof RevokeRequest>

/** `POST /v1/attestation-failures`: the peer that failed, by the certificate it authenticated with, and the verifier's code. */
export const AttestationFailureRequest = Type.Object({
  node_id: NodeId,
  serial: Type.String({ pattern: SERIAL_PATTERN, maxLength: 40 }),
  code: Type.String({ pattern: '^[A-Z][A-Z_]{0,39}$', description: 'the attest protocol failure code (PCR_NOT_ALLOWED, ...)' })
}, { additionalProperties: false })
export type AttestationFailureRequestBody = Static<typeof AttestationFailureRequest>

/** The attestation policy the CA applies and distributes (src/attestation/policy.ts). */
export const AttestationPolicySchema = Type.Object({
  accept_none: Type.Boolean(),
  pcr_bank: Type.String(),
  required_pcrs: Type.Array(Type.Integer()),
  pcr_values: Type.Optional(Type.Record(Type.String(), Type.Array(Type.String()))),
  golden_sets: Type.Optional(Type.Array(Type.Record(Type.String(), Type.String()))),
  max_evidence_age_seconds: Type.Number(),
  require_known_ek: Type.Boolean(),
  require_restricted_ak: Type.Boolean(),
  on_failure: Type.Union([Type.Literal('demote'), Type.Literal('close')]),
  recheck_interval_seconds: Type.Number(),
  enforce: Type.Optional(Type.Boolean()),
  pending_deadline_seconds: Type.Optional(Type.Number()),
  max_transient_failures: Type.Optional(Type.Integer())
}, { description: 'attestation policy every verifier (the CA, peers in /dadm-mesh/attest/1.0.0) applies' })

/** The mesh configuration a node receives at enrollment, from the CA's own config file. */
export const MeshConfig = Type.Object({
  bootstrap_peers: Type.Array(Type.String()),
  gossip_fanout: Type.Integer(),
  crl_url: Type.String(),
  attestation_policy: Type.Optional(AttestationPolicySchema)
})
export type MeshConfigBody = Static<typeof MeshConfig>

export const IssuedResponse = Type.Object({
  certificate: Type.String({ description: 'the issued certificate, PEM' }),
  ca_cert: Type.String({ description: 'the mesh root certificate(s), PEM' }),
  chain: Type.String({ description: 'issuing CA chain, issuer first, root last, PEM' }),
  config: MeshConfig,
  node_id: NodeId,
  serial: Type.String(),
  valid_not_before: Type.String({ format: 'date-time' }),
  valid_not_after: Type.String({ format: 'date-time' })
})
export type IssuedResponseBody = Static<typeof IssuedResponse>

/** `GET /v1/enroll/nonce`: a single-use nonce for the attestation evidence, and what to quote. */
export const NonceResponse = Type.Object({
  nonce: Type.String({ description: '32 random bytes, base64; single use' }),
  expires_at: Type.String({ format: 'date-time' }),
  pcr_bank: Type.String({ description: 'PCR bank the quote must cover' }),
  pcrs: Type.Array(Type.Integer(), { description: 'PCR indexes the quote must cover' })
})
export type NonceResponseBody = Static<typeof NonceResponse>

export const ErrorResponse = Type.Object({
  error: Type.Object({
    code: Type.Union(Object.keys(ENROLLMENT_ERRORS).map(c => Type.Literal(c))),
    message: Type.String()
  })
})

/** Error responses a route can give, by status, for the OpenAPI document. */
export function errorResponses (...statuses: number[]): Record<number, unknown> {
  const out: Record<number, unknown> = {}
  for (const s of statuses) { out[s] = ErrorResponse }
  return out
}
