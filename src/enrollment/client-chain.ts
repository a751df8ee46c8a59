import { ADMIN_URI_PREFIX } from '../ca/csr-policy.ts'
import { parseCertificate } from '../pki/certificate.ts'
import { ChainValidationError } from '../pki/chain-errors.ts'
import { parseCrl } from '../pki/crl.ts'
import { nodeIdentity } from '../pki/node-identity.ts'
import { checkSessionCertificate, isSessionCertificate } from '../pki/session-cert.ts'
import { verifyChain } from '../pki/verify-chain.ts'
import { EKU } from '../pki/x509-extensions.ts'
import { EnrollmentError } from './errors.ts'
import type { ClientIdentity } from './types.ts'
import type { MeshCa } from '../ca/index.ts'
import type { Certificate } from '../pki/certificate.ts'
import type { Crl } from '../pki/crl.ts'

/**
 * Client chains at the CA's mutual-TLS routes. A node presents its node certificate directly
 * (a software key OpenSSL can hold) or, whatever its key store, through an API session
 * certificate its identity key signed (src/pki/session-cert.ts): a PKCS#11 or TPM key never
 * leaves its token, so rotation over mutual TLS works for every backend. During a CA rotation
 * the service also accepts chains of the CA being retired (`previous`), each checked with that
 * CA's own CRLs, so nodes holding the old root's certificates can rotate onto the new one.
 */

/** One CA whose certificates the service accepts, with its CRLs parsed once per CRL number. */
export class AcceptedCa {
  readonly ca: MeshCa
  #issuing: { number: number, crl: Crl } | undefined
  #root: { number: number, crl: Crl } | undefined

  constructor (ca: MeshCa) {
    this.ca = ca
  }

  /** The CA's current CRLs: the issuing CA's, and the root's over intermediates when there is one. */
  async crls (now: Date): Promise<Crl[]> {
    const info = await this.ca.currentCrl(now)
    if (this.#issuing?.number !== info.crlNumber) { this.#issuing = { number: info.crlNumber, crl: parseCrl(info.der) } }
    const out = [this.#issuing.crl]
    if (this.ca.config.intermediate) {
      const root = await this.ca.currentCrl(now, 'root')
      if (this.#root?.number !== root.crlNumber) { this.#root = { number: root.crlNumber, crl: parseCrl(root.der) } }
      out.push(this.#root.crl)
    }
    return out
  }
}

/**
 * Checks a presented client chain (leaf first) against each accepted CA in turn (the current
 * one first): validity window, revocation, and the EKU of the role its SAN claims. Any failure
 * is CLIENT_CERT_INVALID, with the current CA's refusal as the cause.
 */
export async function authenticateChain (cas: AcceptedCa[], chainDer: Uint8Array[], now: Date): Promise<ClientIdentity> {
  try {
    let leaf = parseCertificate(chainDer[0])
    let rest = chainDer.slice(1)
    if (isSessionCertificate(leaf)) {
      const s = checkSessionCertificate(chainDer, now.getTime())
      leaf = s.node
      rest = s.rest
    }
    let first: Error | undefined
    for (const accepted of cas) {
      try {
        return await againstCa(accepted, leaf, rest, now)
      } catch (err) {
        // Only "not ours" moves on to the next CA; any other refusal is final.
        if (!(err instanceof ChainValidationError && err.code === 'UNKNOWN_ISSUER')) { throw err }
        first ??= err
      }
    }
    throw first ?? new EnrollmentError('CLIENT_CERT_INVALID')
  } catch (err) {
    if (err instanceof EnrollmentError) { throw err }
    throw new EnrollmentError('CLIENT_CERT_INVALID', { cause: err })
  }
}

async function againstCa (accepted: AcceptedCa, leaf: Certificate, rest: Uint8Array[], now: Date): Promise<ClientIdentity> {
  const ca = accepted.ca
  const uris = leaf.subjectAltName?.uri ?? []
  const admin = uris.filter(u => u.startsWith(ADMIN_URI_PREFIX))
  const intermediates = [...rest, ca.issuingCertificate.der]
  const crls = await accepted.crls(now)
  if (admin.length > 0) {
    if (admin.length !== 1 || uris.length !== 1) { throw new EnrollmentError('CLIENT_CERT_INVALID') }
    verifyChain(now, leaf, intermediates, [ca.rootCertificate], crls, { requiredEku: [EKU.CLIENT_AUTH] })
    return { role: 'admin', subject: admin[0].slice(ADMIN_URI_PREFIX.length), serialHex: leaf.serialHex, notAfter: leaf.notAfter }
  }
  verifyChain(now, leaf, intermediates, [ca.rootCertificate], crls, {})
  const { nodeId } = nodeIdentity(leaf)
  return { role: 'node', subject: nodeId, nodeId, serialHex: leaf.serialHex, notAfter: leaf.notAfter }
}
