import { attestationPolicyId } from '../attestation/policy.ts'
import { derToPem, pemToDer } from '../util/pem.ts'
import { toEnrollmentError } from './error-map.ts'
import { EnrollmentError } from './errors.ts'
import type { AttestationVerifier, DeviceBinding } from './attestation.ts'
import type { CaEventSink } from './ca-events.ts'
import type { AcceptedCa } from './client-chain.ts'
import type { DevicePins } from './device-pins.ts'
import type { PolicyGate } from './policy.ts'
import type { AttestationEvidence } from './schemas.ts'
import type { IssuedCertificate } from './types.ts'
import type { AttestationPolicy } from '../attestation/policy.ts'
import type { IssuedCert, MeshCa } from '../ca/index.ts'
import type { AttestedDevice } from '../pki/attested-extension.ts'
import type { IssuedCertRecord } from '../store/ca-store.ts'
import type { TokenStore } from '../store/token-store.ts'

/** A CRL a revocation produced, as handed to the revocation listeners. */
export interface CrlEvent { der: Uint8Array, crlNumber: number }

/**
 * What CaService's operations share: the CA, its stores and checks, and the event log. Each
 * operation module (ca-enroll, ca-succession-ops, ca-revocation, ca-admin-ops) takes this one
 * object, so the service stays the single owner of every piece and the modules hold no state.
 */
export interface CaParts {
  readonly ca: MeshCa
  /** CAs whose client certificates are accepted: this one, then the one being retired. */
  readonly accepted: AcceptedCa[]
  readonly gate: PolicyGate
  readonly tokens: TokenStore
  /** TPMs pinned per node_id at enrollment. */
  readonly devices: DevicePins
  readonly attestation: AttestationVerifier
  /** The policy the CA applies and distributes in the enrollment config, if attestation is on. */
  readonly attestationPolicy: AttestationPolicy | undefined
  readonly events: CaEventSink
  readonly revocationListeners: ReadonlySet<(crl: CrlEvent) => void>
}

/** The CA being retired, if the service was opened during a CA rotation. */
export function previousCa (parts: CaParts): MeshCa | undefined {
  return parts.accepted[1]?.ca
}

/** CSR text: one PEM CERTIFICATE REQUEST block, or the DER in (canonical) base64 (seed §7.1). */
export function csrDerFromText (text: string): Uint8Array {
  if (text.trimStart().startsWith('-----BEGIN')) { return pemToDer(text, 'CERTIFICATE REQUEST') }
  const compact = text.replace(/\s+/g, '')
  const der = Buffer.from(compact, 'base64')
  if (compact.length === 0 || der.toString('base64') !== compact) { throw new EnrollmentError('INVALID_CSR') }
  return new Uint8Array(der)
}

/** Runs the verifier against the node_id's pinned TPM; returns the device of an accepted quote. */
export async function attest (parts: CaParts, evidence: AttestationEvidence | undefined, nodeId: string, csrSpki: Uint8Array, now: Date): Promise<DeviceBinding | undefined> {
  const pinned = await parts.devices.binding(nodeId)
  const verdict = await parts.attestation.verify({ ...(evidence != null ? { evidence } : {}), nodeId, csrSpki, now, ...(pinned != null ? { pinned } : {}) })
  // [REJECT] evidence the verifier refused, with its code
  if (verdict.result === 'reject') { throw new EnrollmentError(verdict.code ?? 'ATTESTATION_REJECTED') }
  // [REJECT] when ca.json demands attestation, anything short of "accept" (the software
  // verifier's "none" included)
  if (parts.gate.policy.requireAttestation === true && verdict.result !== 'accept') {
    throw new EnrollmentError('ATTESTATION_REJECTED')
  }
  return verdict.result === 'accept' ? verdict.device : undefined
}

/**
 * The attested-device extension for a certificate issued right after a quote passed (`device`
 * is set only for verdict "accept"): this policy's id and the time of the check.
 */
export function attestedExtension (parts: CaParts, device: DeviceBinding | undefined, now: Date): { attested?: AttestedDevice } {
  if (device == null || parts.attestationPolicy == null) { return {} }
  return { attested: { policyId: attestationPolicyId(parts.attestationPolicy), attestedAt: now.getTime() } }
}

/** The answer for a certificate issued earlier (a rotation or renewal asked again). */
export function recordBody (ca: MeshCa, rec: IssuedCertRecord): IssuedCertificate {
  return issuedBody(ca, { ...rec, pem: derToPem(Buffer.from(rec.der, 'base64'), 'CERTIFICATE'), chainPem: ca.chainPem })
}

/** The answer for a certificate just issued: leaf, chain, root, and its node_id and validity. */
export function issuedBody (ca: MeshCa, issued: Pick<IssuedCert, 'pem' | 'chainPem' | 'nodeId' | 'subject' | 'serialHex' | 'notBefore' | 'notAfter'>): IssuedCertificate {
  return {
    certificatePem: issued.pem,
    chainPem: issued.chainPem,
    caCertPem: ca.rootPem,
    nodeId: issued.nodeId ?? issued.subject,
    serialHex: issued.serialHex,
    notBefore: issued.notBefore,
    notAfter: issued.notAfter
  }
}

/** Runs `fn`, handing any failure on as an EnrollmentError from the catalogue. */
export async function mapErrors<T> (fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    throw toEnrollmentError(err)
  }
}
