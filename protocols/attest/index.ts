/**
 * `/dadm-mesh/attest/1.0.0`: post-handshake device attestation. After auth, a verifier (any
 * node holding the attestation policy the CA distributed) sends a nonce; the prover answers with
 * fresh evidence (a TPM quote over the nonce and its identity key, or `none`); the verifier
 * checks it with `verifyQuote` against that policy and the peer's pinned TPM. A failure demotes
 * the peer (it stays connected, its gossip is ignored, it is not used as a relay) or, by policy,
 * closes its connections. Checks repeat every interval (1 h by default).
 *
 * @example
 * ```ts
 * services: {
 *   auth: meshAuth({ credentials, verifier }),
 *   attest: meshAttest({ policy, prover: tpmProver(tpm), identitySpki: () => spki })
 * }
 * node.services.attest.addEventListener('peer:demoted', (evt) => { ... })
 * ```
 */
import { DefaultMeshAttest } from './mesh-attest.ts'
import type { MeshAttest, MeshAttestComponents, MeshAttestInit } from './types.ts'

export { PROTOCOL as ATTEST_PROTOCOL, DEFAULT_INTERVAL_MS as ATTEST_DEFAULT_INTERVAL_MS, DEFAULT_ROUND_TRIP_MS as ATTEST_DEFAULT_ROUND_TRIP_MS, MAX_FRAME_BYTES as ATTEST_MAX_FRAME_BYTES } from './constants.ts'
export { AttestProtocolError, ATTEST_PROTOCOL_ERROR_CODES, isAttestFailureCode } from './errors.ts'
export type { AttestFailureCode, AttestProtocolErrorCode } from './errors.ts'
export { encodeFrame, decodeFrame } from './codec.ts'
export type { AttestFrame, ChallengeFrame, EvidenceFrame, RefusalFrame, VerdictFrame } from './codec.ts'
export { answerChallenge, sendChallenge } from './exchange.ts'
export { verifyAttestation, actionFor } from './verify-attest.ts'
export type { AttestAction, AttestCheckInput, AttestOutcome, DevicePin } from './verify-attest.ts'
export { MemoryDevicePins } from './pins.ts'
export type { DevicePinStore } from './pins.ts'
export { noneProver, tpmProver } from './prover.ts'
export type { EvidenceProver, ProofRequest } from './prover.ts'
export type { AttestAuthSource, AttestRegistrar, AttestStatus, MeshAttest, MeshAttestComponents, MeshAttestEvents, MeshAttestInit, PeerAttestation, PeerAttestedEvent, PeerDemotedEvent } from './types.ts'
export { DefaultMeshAttest } from './mesh-attest.ts'

/** The attest service factory for libp2p's `services` map (after `auth`, which it depends on). */
export function meshAttest (init: MeshAttestInit): (components: MeshAttestComponents) => MeshAttest {
  return (components) => new DefaultMeshAttest(components, init)
}
