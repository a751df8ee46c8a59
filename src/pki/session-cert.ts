import 'reflect-metadata'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import * as x509 from '@peculiar/x509'
import { MeshError } from '../errors.ts'
import { content, decodeDer, encodeTlv, TAG } from '../util/der.ts'
import { derToPem } from '../util/pem.ts'
import { parseCertificate } from './certificate.ts'
import { verifySignature } from './signature.ts'
import { keyIdentifier, signCertificate } from './x509-build.ts'
import { EKU } from './x509-extensions.ts'
import type { Certificate } from './certificate.ts'
import type { X509Signer } from '../identity/key-store.ts'

/**
 * API session certificates: how a node's mesh identity speaks TLS on its admin API without its
 * identity key ever leaving the key store. The identity key is non-exportable (and may live in a
 * PKCS#11 token), so OpenSSL cannot hold it. Instead, whoever holds it (the running node for its
 * server side, `node peers` for its client side) makes a fresh in-memory P-256 key and signs a
 * short-lived certificate for it with the identity key, in the shape of an RFC 3820 proxy
 * certificate: issuer = the node certificate's subject, subject = that name plus one CN, and a
 * critical proxyCertInfo extension (no further delegation). OpenSSL links such a certificate to
 * its signer even though the node certificate is no CA (proxy rule: digitalSignature suffices),
 * and every ordinary path validation, ours included, refuses it (unknown critical extension), so
 * it is good for the admin API and nothing else.
 */

/** id-pe-proxyCertInfo (RFC 3820 §3.8). */
export const PROXY_CERT_INFO_OID = '1.3.6.1.5.5.7.1.14'
/** ProxyCertInfo { pCPathLenConstraint 0, proxyPolicy { id-ppl-independent } }: no rights inherited, no further proxies. */
const PROXY_CERT_INFO_DER = Buffer.from('300f020100300a06082b06010505071502', 'hex')
/** OID 2.5.4.3 (commonName), DER. */
const CN_OID_DER = Buffer.from('0603550403', 'hex')
/** Longest session lifetime accepted: the longest node certificate (7 days) plus a day of slack. */
export const MAX_SESSION_LIFETIME_MS = 8 * 24 * 3600 * 1000
/** notBefore is set this far back so that a peer whose clock runs a little behind accepts it. */
const BACKDATE_MS = 60_000

export type SessionCertErrorCode =
  | 'NOT_SESSION_CERTIFICATE' // no proxyCertInfo, or the wrong shape for one
  | 'NO_ISSUER' // the chain does not carry the node certificate that signed it
  | 'NAME_MISMATCH' // issuer / subject names do not derive from the node certificate's
  | 'BAD_SIGNATURE' // the node certificate's key did not sign it
  | 'EXPIRED' // outside its validity window, or outliving the node certificate
  | 'MALFORMED' // does not parse

export class SessionCertError extends MeshError<SessionCertErrorCode> {
  static name = 'SessionCertError'
}

/** A TLS credential for the admin API: PEM chain (session certificate, node certificate, CA chain) and key, in memory only. */
export interface SessionCredential {
  certPem: string
  keyPem: string
  serialHex: string
  notBefore: number
  notAfter: number
}

export interface IssueSessionOptions {
  /** The identity key's signer (`KeyHandle.signer()`); it must be the key of `nodeChain[0]`. */
  signer: X509Signer
  /** The node certificate first, then its CA chain, DER. */
  nodeChain: Uint8Array[]
  now: Date
  /** Lifetime; clamped to the node certificate's notAfter. */
  validityMs: number
}

/** Makes a fresh key and a session certificate for it, signed by the node's identity key. */
export async function issueSessionCredential (opts: IssueSessionOptions): Promise<SessionCredential> {
  const node = parseCertificate(opts.nodeChain[0])
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
  const spki = new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }))
  const serialHex = '01' + randomBytes(15).toString('hex')
  const start = opts.now.getTime()
  const notAfter = Math.min(start + Math.min(opts.validityMs, MAX_SESSION_LIFETIME_MS - BACKDATE_MS), node.notAfter)
  const notBefore = Math.max(start - BACKDATE_MS, node.notBefore)
  if (notAfter <= start) { throw new SessionCertError('EXPIRED', 'the node certificate has expired: no session can be signed with it') }
  const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
  const der = await signCertificate({
    serialHex,
    subject: sessionSubject(node, `dadm-mesh-api-${serialHex.slice(2, 10)}`),
    issuerName: node.subject.der,
    notBefore: new Date(notBefore),
    notAfter: new Date(notAfter),
    spki,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([EKU.CLIENT_AUTH, EKU.SERVER_AUTH], false),
      new x509.SubjectKeyIdentifierExtension(hex(keyIdentifier(spki))),
      new x509.AuthorityKeyIdentifierExtension(hex(node.subjectKeyIdentifier ?? keyIdentifier(node.spki))),
      new x509.Extension(PROXY_CERT_INFO_OID, true, PROXY_CERT_INFO_DER)
    ],
    signer: opts.signer
  })
  const certPem = [der, ...opts.nodeChain].map(c => derToPem(c, 'CERTIFICATE')).join('')
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string
  return { certPem, keyPem, serialHex: parseCertificate(der).serialHex, notBefore, notAfter }
}

/** True when `cert` carries proxyCertInfo, i.e. claims to be a session certificate. */
export function isSessionCertificate (cert: Certificate): boolean {
  return cert.extensions.has(PROXY_CERT_INFO_OID)
}

/**
 * Checks that `chain[0]` is a session certificate signed by `chain[1]` and valid at `now`; returns
 * the node certificate and the rest of the chain, which the caller must still validate as an
 * ordinary node certificate (root, validity, revocation, node_id). Throws SessionCertError.
 */
export function checkSessionCertificate (chain: Uint8Array[], now: number): { session: Certificate, node: Certificate, rest: Uint8Array[] } {
  if (chain.length < 2) { throw new SessionCertError('NO_ISSUER', 'a session certificate needs its node certificate beside it') }
  let session: Certificate
  let node: Certificate
  try {
    session = parseCertificate(chain[0])
    node = parseCertificate(chain[1])
  } catch (err) {
    throw new SessionCertError('MALFORMED', 'session chain does not parse', { cause: err })
  }
  const pci = session.extensions.get(PROXY_CERT_INFO_OID)
  // [REJECT] anything but our exact proxy shape: critical proxyCertInfo, no CA, no SAN.
  if (pci == null || !pci.critical || !Buffer.from(pci.value).equals(PROXY_CERT_INFO_DER)) { throw new SessionCertError('NOT_SESSION_CERTIFICATE', 'no proxyCertInfo of the session shape') }
  if (session.basicConstraints?.ca === true || session.subjectAltName != null) { throw new SessionCertError('NOT_SESSION_CERTIFICATE', 'a session certificate is no CA and names nothing') }
  // [REJECT] names that do not derive from the node certificate (RFC 3820 §3.4).
  if (session.issuer.key !== node.subject.key || !derivesFrom(session.subject.der, node.subject.der)) {
    throw new SessionCertError('NAME_MISMATCH', 'session certificate names do not derive from the node certificate')
  }
  // [REJECT] outside its window, too long-lived, or outliving the node certificate.
  if (now < session.notBefore || now > session.notAfter || session.notAfter > node.notAfter ||
    session.notAfter - session.notBefore > MAX_SESSION_LIFETIME_MS) {
    throw new SessionCertError('EXPIRED', 'session certificate is not valid now')
  }
  // [REJECT] not signed by the node certificate's key (signature last: the costly check).
  let ok = false
  try {
    ok = !session.signatureMalformed && session.tbsSignatureAlgorithm.oid === session.signatureAlgorithm.oid &&
      verifySignature(session.signatureAlgorithm, node.keyObject, session.tbs, session.signature)
  } catch {
    // An unusable key or algorithm verifies nothing: ok stays false.
  }
  if (!ok) { throw new SessionCertError('BAD_SIGNATURE', 'the node certificate key did not sign the session certificate') }
  return { session, node, rest: chain.slice(2) }
}

/** The issuer's Name with one more RDN, CN=`cn`, appended (DER). */
function sessionSubject (node: Certificate, cn: string): Uint8Array {
  const rdns = content(decodeDer(node.subject.der, { maxDepth: 6, maxNodes: 512 }))
  const attr = encodeTlv(TAG.SEQUENCE, Buffer.concat([CN_OID_DER, encodeTlv(TAG.UTF8_STRING, Buffer.from(cn, 'utf8'))]))
  return encodeTlv(TAG.SEQUENCE, Buffer.concat([rdns, encodeTlv(TAG.SET, attr)]))
}

/** True when Name `child` is Name `parent` plus exactly one RDN. */
function derivesFrom (child: Uint8Array, parent: Uint8Array): boolean {
  try {
    const c = decodeDer(child, { maxDepth: 6, maxNodes: 512 })
    const p = decodeDer(parent, { maxDepth: 6, maxNodes: 512 })
    if (c.children.length !== p.children.length + 1) { return false }
    return Buffer.from(content(c)).subarray(0, content(p).length).equals(content(p))
  } catch {
    return false
  }
}
