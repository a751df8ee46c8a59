import { isIP } from 'node:net'
import { parseCertificate } from '../pki/certificate.ts'
import { isValidNodeId, NODE_URI_PREFIX, PEER_URI_PREFIX } from '../pki/node-identity.ts'
import { normalizeRoles } from '../pki/roles-extension.ts'
import { keyIdentifier, leafExtensions, signCertificate } from '../pki/x509-build.ts'
import { StoreError } from '../store/errors.ts'
import { derToPem, pemToDer } from '../util/pem.ts'
import { attestedDeviceExtension } from './attested-build.ts'
import { ADMIN_URI_PREFIX, checkAdminCsr, checkNodeCsr, checkServerCsr, isDnsName, normalizeIp } from './csr-policy.ts'
import { parseCsr } from './csr.ts'
import { IssuanceError } from './errors.ts'
import { rolesExtension } from './roles-build.ts'
import type { CaState } from './ca-state.ts'
import type { AttestedDevice } from '../pki/attested-extension.ts'
import type { LeafNames, LeafProfile } from '../pki/x509-build.ts'
import type { IssuedCertRecord, SupersessionVia } from '../store/ca-store.ts'

export interface IssueRequest {
  /** The CSR: DER bytes, or PEM text (`CERTIFICATE REQUEST`). */
  csr: Uint8Array | string
  now: Date
  /** Lifetime; default from ca.json (24 h), at most `node_cert_max_validity_seconds` (7 d). */
  validitySeconds?: number
  /** Node profile: the CSR must name exactly this node_id (enrollment passes the token's). */
  nodeId?: string
  /** @default 'node' */
  profile?: LeafProfile
  /** Admin profile: the CSR must name exactly this admin. */
  adminName?: string
  /** Server profile: the names the certificate carries (at least one name in all). */
  dnsNames?: string[]
  ipAddresses?: string[]
  /**
   * Node profile, enrollment: what becomes of the node_id's live certificates (unexpired,
   * unrevoked). `refuse`: NODE_ID_TAKEN and nothing stored; `supersede` (a replacement token):
   * they are revoked, reason superseded, in the issuance's own batch. Unset (rotation, renewal,
   * operator issuance): left as they are.
   */
  liveCertificates?: 'refuse' | 'supersede'
  /**
   * Node profile: the certificate this one replaces (rotation, renewal). The store refuses
   * (StoreError ALREADY_SUPERSEDED) when that serial already has a successor.
   */
  supersedes?: { serialHex: string, via: SupersessionVia }
  /** Node profile: the device passed a TPM quote now; the leaf then carries the attested-device extension. */
  attested?: AttestedDevice
  /**
   * Node profile: the roles the leaf carries (the roles extension), from the CA's own records
   * only (a token, or the certificate being replaced), never from the CSR. Empty or unset: no
   * extension. A bad name or more than MAX_ROLES is BAD_PROFILE_INPUT.
   */
  roles?: readonly string[]
}

export interface IssuedCert {
  der: Uint8Array
  pem: string
  serialHex: string
  profile: LeafProfile
  /** node_id, admin name, or the server's first name. */
  subject: string
  /** Node profile only. */
  nodeId?: string
  peerId?: string
  /** Node profile: the roles in the certificate, sorted (empty when none). */
  roles?: string[]
  /** Milliseconds since the epoch. */
  notBefore: number
  notAfter: number
  /** The issuing chain (issuer first, root last), to send along with the certificate. */
  chainPem: string
  /** With `liveCertificates`: the serials this issuance revoked as superseded. */
  superseded?: string[]
}

interface ProfileOutcome {
  subject: string
  names: LeafNames
  nodeId?: string
  peerId?: string
}

function applyProfile (profile: LeafProfile, csr: ReturnType<typeof parseCsr>, req: IssueRequest): ProfileOutcome {
  switch (profile) {
    case 'node': {
      if (req.nodeId != null && !isValidNodeId(req.nodeId)) { throw new IssuanceError('INVALID_NODE_ID', 'node_id has invalid syntax') }
      const { nodeId, peerId } = checkNodeCsr(csr, req.nodeId)
      return { subject: nodeId, nodeId, peerId, names: { uris: [NODE_URI_PREFIX + nodeId, PEER_URI_PREFIX + peerId] } }
    }
    case 'admin': {
      const { name } = checkAdminCsr(csr, req.adminName)
      return { subject: name, names: { uris: [ADMIN_URI_PREFIX + name] } }
    }
    case 'server': {
      const dnsNames = (req.dnsNames ?? []).map(d => d.toLowerCase())
      const ipAddresses = (req.ipAddresses ?? []).map(normalizeIp)
      if (dnsNames.length + ipAddresses.length === 0 || dnsNames.some(d => !isDnsName(d)) || (req.ipAddresses ?? []).some(ip => isIP(ip) === 0)) {
        throw new IssuanceError('BAD_PROFILE_INPUT', 'a server certificate needs valid dnsNames and/or ipAddresses')
      }
      checkServerCsr(csr, dnsNames, ipAddresses)
      return { subject: dnsNames[0] ?? req.ipAddresses?.[0] ?? '', names: { dnsNames, ipAddresses: req.ipAddresses } }
    }
    default:
      throw new IssuanceError('BAD_PROFILE_INPUT', `unknown profile ${String(profile)}`)
  }
}

/** Validity window: from `now` (whole seconds) for the requested lifetime, clamped to the issuer's notAfter. */
function validity (state: CaState, req: IssueRequest): { notBefore: Date, notAfter: Date } {
  const seconds = req.validitySeconds ?? state.config.node_cert_validity_seconds
  if (!Number.isSafeInteger(seconds) || seconds <= 0 || seconds > state.config.node_cert_max_validity_seconds) {
    throw new IssuanceError('VALIDITY_OUT_OF_RANGE', `validity must be 1..${state.config.node_cert_max_validity_seconds} s`)
  }
  const now = req.now.getTime()
  if (now < state.issuing.notBefore || now > state.issuing.notAfter || now > state.root.notAfter) {
    throw new IssuanceError('ISSUER_NOT_VALID', 'the issuing CA is not valid at this time')
  }
  const notBefore = Math.floor(now / 1000) * 1000
  const notAfter = Math.min(notBefore + seconds * 1000, state.issuing.notAfter)
  return { notBefore: new Date(notBefore), notAfter: new Date(notAfter) }
}

/**
 * Issues a leaf certificate from a CSR. Every check runs before anything is signed or stored:
 * parse and self-signature, key policy, profile (SANs, CA powers), validity, node block. The
 * certificate and its audit entry are then stored in one sync batch.
 */
export async function issueCertificate (state: CaState, req: IssueRequest): Promise<IssuedCert> {
  const der = typeof req.csr === 'string' ? pemToDer(req.csr, 'CERTIFICATE REQUEST') : req.csr
  const csr = parseCsr(der)
  const profile = req.profile ?? 'node'
  const outcome = applyProfile(profile, csr, req)
  const { notBefore, notAfter } = validity(state, req)
  const roles = profile === 'node' ? rolesOfRequest(req) : []
  if (outcome.nodeId != null && await state.store.nodeRevocation(outcome.nodeId) != null) {
    throw new IssuanceError('NODE_REVOKED', 'this node_id is revoked; an operator must clear it first')
  }
  const serialHex = await state.store.freshSerial()
  const certDer = await signCertificate({
    serialHex,
    subject: `CN=${outcome.subject}`,
    issuerName: state.issuing.subject.der,
    notBefore,
    notAfter,
    spki: csr.spki,
    extensions: [
      ...leafExtensions(profile, outcome.names, csr.spki, keyIdentifier(state.issuing.spki)),
      ...(req.attested != null && profile === 'node' ? [attestedDeviceExtension(req.attested)] : []),
      ...(roles.length > 0 ? [rolesExtension(roles)] : [])
    ],
    signer: state.issuingKey.signer()
  })
  // Re-read what we signed with our strict parser: a library encoding surprise fails here, not in the field.
  const cert = parseCertificate(certDer)
  const superseded = await storeIssued(state, req, {
    serialHex: cert.serialHex,
    profile,
    subject: outcome.subject,
    ...(outcome.nodeId != null ? { nodeId: outcome.nodeId, peerId: outcome.peerId } : {}),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    issuedAt: req.now.getTime(),
    ...(roles.length > 0 ? { roles } : {}),
    der: Buffer.from(certDer).toString('base64'),
    ...(req.supersedes != null && outcome.nodeId != null ? { supersedes: req.supersedes } : {})
  })
  return {
    der: certDer,
    pem: derToPem(certDer, 'CERTIFICATE'),
    serialHex: cert.serialHex,
    profile,
    subject: outcome.subject,
    ...(outcome.nodeId != null ? { nodeId: outcome.nodeId, peerId: outcome.peerId, roles } : {}),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    chainPem: state.chainPem,
    ...(req.liveCertificates != null ? { superseded } : {})
  }
}

/** The request's roles in canonical order; BAD_PROFILE_INPUT when they break the extension's rules. */
function rolesOfRequest (req: IssueRequest): string[] {
  try {
    return normalizeRoles(req.roles ?? [])
  } catch (err) {
    throw new IssuanceError('BAD_PROFILE_INPUT', (err as Error).message, { cause: err })
  }
}

/**
 * Stores what was issued: an enrollment (`liveCertificates` set) through the store's node_id
 * rule, checked and written under one lock; anything else as a plain record. Returns the serials
 * the enrollment superseded.
 */
async function storeIssued (state: CaState, req: IssueRequest, rec: IssuedCertRecord): Promise<string[]> {
  if (req.liveCertificates == null || rec.nodeId == null) {
    await state.store.recordIssued(rec)
    return []
  }
  if (rec.supersedes != null) { throw new IssuanceError('BAD_PROFILE_INPUT', 'an enrollment supersedes by revocation, not as a successor') }
  try {
    return (await state.store.recordIssuedForNode(rec, { live: req.liveCertificates, now: req.now.getTime() })).map(r => r.serialHex)
  } catch (err) {
    if (err instanceof StoreError && err.code === 'NODE_ID_TAKEN') { throw new IssuanceError('NODE_ID_TAKEN', `node_id ${rec.nodeId} has a live certificate`, { cause: err }) }
    throw err
  }
}
