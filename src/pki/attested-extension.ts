import { content, encodeTlv, expectTag, readTime, TAG } from '../util/der.ts'
import { X509FormatError } from './x509-errors.ts'
import { decodeExtension } from './x509-extensions.ts'
import type { Certificate } from './certificate.ts'

/**
 * The attested-device extension: the CA puts it in a node certificate it issued right after a
 * TPM quote passed its attestation policy (enroll, rotate, renew with verdict "accept"). Peers
 * read it to tell an origin that proved its device from one that did not.
 *
 * `AttestedDevice ::= SEQUENCE { policyId OCTET STRING (SIZE (16)), attestedAt GeneralizedTime }`:
 * the attestationPolicyId() of the policy applied, and when the CA verified the quote.
 *
 * Non-critical: software that does not know it (openssl, browsers) must still accept the
 * certificate. The project has no registered arc (no IANA Private Enterprise Number yet), so the
 * OID sits under 1.3.6.1.4.1.32473, the enterprise number IANA reserves for documentation
 * (RFC 5612): it is never assigned to anyone, so it cannot clash with another vendor's
 * extension. Replace MESH_OID_ARC once the project registers its own number. A UUID OID under
 * 2.25 was rejected: its 128-bit arc does not survive the `@peculiar/x509` encoder, and the mesh's
 * strict DER reader (der.ts) caps arcs at 2^46.
 */
export const MESH_OID_ARC = '1.3.6.1.4.1.32473.77'

/** {MESH_OID_ARC}.1.1: certificate extensions, first of them the attested-device extension. */
export const ATTESTED_DEVICE_OID = `${MESH_OID_ARC}.1.1`

/** Size of the policy id (attestationPolicyId's 16 bytes). */
export const POLICY_ID_BYTES = 16

export interface AttestedDevice {
  policyId: Uint8Array
  /** ms since the epoch, whole seconds. */
  attestedAt: number
}

function generalizedTime (ms: number): Uint8Array {
  const d = new Date(Math.floor(ms / 1000) * 1000)
  const p = (n: number, w = 2): string => String(n).padStart(w, '0')
  const s = `${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`
  return encodeTlv(TAG.GENERALIZED_TIME, new TextEncoder().encode(s))
}

/** DER of the extension value (extnValue's content). */
export function encodeAttestedDevice (v: AttestedDevice): Uint8Array {
  if (v.policyId.length !== POLICY_ID_BYTES) { throw new RangeError(`policyId must be ${POLICY_ID_BYTES} bytes`) }
  const id = encodeTlv(TAG.OCTET_STRING, v.policyId)
  const at = generalizedTime(v.attestedAt)
  const body = new Uint8Array(id.length + at.length)
  body.set(id, 0)
  body.set(at, id.length)
  return encodeTlv(TAG.SEQUENCE, body)
}

/** Strict decode of the extension value; MALFORMED_EXTENSION on anything else. */
export function decodeAttestedDevice (value: Uint8Array): AttestedDevice {
  return decodeExtension({ oid: ATTESTED_DEVICE_OID, critical: false, value }, (node) => {
    const seq = expectTag(node, TAG.SEQUENCE, 'AttestedDevice')
    if (seq.children.length !== 2) { throw new X509FormatError('MALFORMED_EXTENSION', 'AttestedDevice has two fields') }
    const policyId = content(expectTag(seq.children[0], TAG.OCTET_STRING, 'policyId'))
    if (policyId.length !== POLICY_ID_BYTES) { throw new X509FormatError('MALFORMED_EXTENSION', `policyId must be ${POLICY_ID_BYTES} bytes`) }
    return { policyId: new Uint8Array(policyId), attestedAt: readTime(expectTag(seq.children[1], TAG.GENERALIZED_TIME, 'attestedAt')) }
  })
}

/** Reads the extension of a certificate: undefined when absent; MALFORMED_EXTENSION when broken. */
export function attestedDeviceOf (cert: Certificate): AttestedDevice | undefined {
  const ext = cert.extensions.get(ATTESTED_DEVICE_OID)
  if (ext == null) { return undefined }
  if (ext.critical) { throw new X509FormatError('MALFORMED_EXTENSION', 'the attested-device extension must not be critical') }
  return decodeAttestedDevice(ext.value)
}
