import 'reflect-metadata'
import { createHash } from 'node:crypto'
import * as x509 from '@peculiar/x509'
import { content, decodeDer } from '../util/der.ts'
import { EKU } from './x509-extensions.ts'
import type { X509Signer } from '../identity/key-store.ts'

/** What a leaf certificate is for; decides its SAN kinds, EKU and subject. */
export type LeafProfile = 'node' | 'admin' | 'server'

/**
 * Key identifier per RFC 7093 §2 method 1: the leftmost 160 bits of the SHA-256 of the
 * subjectPublicKey BIT STRING value. Used for SKI, and for AKI in what the key signs.
 */
export function keyIdentifier (spki: Uint8Array): Uint8Array {
  const bitString = decodeDer(spki, { maxDepth: 3, maxNodes: 16 }).children[1]
  // Skip the unused-bits octet: the "value" of the BIT STRING is the key itself.
  const key = content(bitString).subarray(1)
  return createHash('sha256').update(key).digest().subarray(0, 20)
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

export interface LeafNames {
  uris?: string[]
  dnsNames?: string[]
  ipAddresses?: string[]
}

/**
 * Extensions of a leaf: basicConstraints CA:false (critical), keyUsage digitalSignature
 * (critical), EKU per profile (node: clientAuth + serverAuth; admin: clientAuth; server:
 * serverAuth), SAN, SKI and AKI.
 */
export function leafExtensions (profile: LeafProfile, names: LeafNames, spki: Uint8Array, issuerKeyId: Uint8Array): x509.Extension[] {
  const eku = profile === 'node' ? [EKU.CLIENT_AUTH, EKU.SERVER_AUTH] : profile === 'admin' ? [EKU.CLIENT_AUTH] : [EKU.SERVER_AUTH]
  const san: x509.JsonGeneralName[] = [
    ...(names.uris ?? []).map(value => ({ type: 'url' as const, value })),
    ...(names.dnsNames ?? []).map(value => ({ type: 'dns' as const, value })),
    ...(names.ipAddresses ?? []).map(value => ({ type: 'ip' as const, value }))
  ]
  return [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension(eku, false),
    new x509.SubjectAlternativeNameExtension(san, false),
    new x509.SubjectKeyIdentifierExtension(hex(keyIdentifier(spki))),
    new x509.AuthorityKeyIdentifierExtension(hex(issuerKeyId))
  ]
}

/** Extensions of a CA certificate: CA:true with pathLen (critical), keyCertSign + cRLSign (critical), SKI, AKI. */
export function caExtensions (pathLen: number, spki: Uint8Array, issuerKeyId?: Uint8Array): x509.Extension[] {
  const exts: x509.Extension[] = [
    new x509.BasicConstraintsExtension(true, pathLen, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    new x509.SubjectKeyIdentifierExtension(hex(keyIdentifier(spki)))
  ]
  if (issuerKeyId != null) { exts.push(new x509.AuthorityKeyIdentifierExtension(hex(issuerKeyId))) }
  return exts
}

export interface CertificateSpec {
  serialHex: string
  /** Subject as a DN string (`CN=...`) or the DER of a Name. */
  subject: string | Uint8Array
  /** The issuer's subject Name DER, copied byte for byte so chaining compares equal everywhere. */
  issuerName: Uint8Array | string
  notBefore: Date
  notAfter: Date
  /** SubjectPublicKeyInfo DER of the certified key. */
  spki: Uint8Array
  extensions: x509.Extension[]
  signer: X509Signer
}

const toName = (n: string | Uint8Array): x509.Name => new x509.Name(typeof n === 'string' ? n : Uint8Array.from(n))

/** Builds and signs a v3 certificate; returns its DER. */
export async function signCertificate (spec: CertificateSpec): Promise<Uint8Array> {
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: spec.serialHex,
    subject: toName(spec.subject),
    issuer: toName(spec.issuerName),
    notBefore: spec.notBefore,
    notAfter: spec.notAfter,
    publicKey: Uint8Array.from(spec.spki),
    signingKey: spec.signer.privateKey,
    signingAlgorithm: spec.signer.signingAlgorithm,
    extensions: spec.extensions
  }, spec.signer.crypto)
  return new Uint8Array(cert.rawData)
}
