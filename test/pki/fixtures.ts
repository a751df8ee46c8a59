import 'reflect-metadata'
import { KeyObject, sign, webcrypto } from 'node:crypto'
import * as x509 from '@peculiar/x509'
import { content, decodeDer, encodeTlv, encoded, TAG } from '../../src/util/der.ts'

/**
 * Test certificates and CRLs built with @peculiar/x509 over node's WebCrypto: a small CA kit for
 * the validator tests, plus byte-level surgery for the adversarial ones (high-S twins, swapped
 * keys, mismatched algorithms, deep nesting).
 */

// Pass node's WebCrypto to each generator call rather than setting x509's global provider:
// @libp2p/tls sets that global to its own WebCrypto, and whichever loads last would break the other.
const nodeCrypto = webcrypto as unknown as Crypto
const subtle = webcrypto.subtle as unknown as SubtleCrypto

export const T0 = new Date('2025-01-01T00:00:00Z')
export const DAY = 86_400_000
export const EKU_CLIENT = '1.3.6.1.5.5.7.3.2'
export const EKU_SERVER = '1.3.6.1.5.5.7.3.1'
const ECDSA = { name: 'ECDSA', hash: 'SHA-256' }

export type KeyAlg = 'P-256' | 'P-384' | 'Ed25519'

export async function makeKeys (alg: KeyAlg = 'P-256'): Promise<CryptoKeyPair> {
  const params = alg === 'Ed25519' ? { name: 'Ed25519' } : { name: 'ECDSA', namedCurve: alg }
  return await subtle.generateKey(params, true, ['sign', 'verify']) as CryptoKeyPair
}

/** An issued certificate with its keys, ready to issue further. */
export interface Issued {
  der: Uint8Array
  keys: CryptoKeyPair
  name: string
  ski: string
}

export interface CertSpec {
  name: string
  keys?: CryptoKeyPair
  /** Issuer; omitted for a self-signed root. */
  issuer?: Issued
  ca?: boolean
  pathLen?: number
  /** keyUsage flags; default: CA keyCertSign|cRLSign, leaf digitalSignature. `null` omits the extension. */
  keyUsage?: number | null
  eku?: string[] | null
  uris?: string[]
  notBefore?: Date
  notAfter?: Date
  serial?: string
  extra?: x509.Extension[]
}

/** Issues a certificate per spec (v3, SKI and AKI set, P-256/Ed25519 signatures). */
export async function makeCert (spec: CertSpec): Promise<Issued> {
  const keys = spec.keys ?? await makeKeys()
  const signer = spec.issuer?.keys ?? keys
  const ski = Buffer.from(await subtle.digest('SHA-1', await subtle.exportKey('spki', keys.publicKey))).toString('hex')
  const issuerSki = spec.issuer?.ski ?? ski
  const ca = spec.ca === true
  const exts: x509.Extension[] = [new x509.SubjectKeyIdentifierExtension(ski), new x509.AuthorityKeyIdentifierExtension(issuerSki)]
  if (ca || spec.pathLen !== undefined) { exts.push(new x509.BasicConstraintsExtension(ca, spec.pathLen, true)) }
  const ku = spec.keyUsage === undefined
    ? (ca ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign : x509.KeyUsageFlags.digitalSignature)
    : spec.keyUsage
  if (ku !== null) { exts.push(new x509.KeyUsagesExtension(ku, true)) }
  const eku = spec.eku === undefined ? (ca ? null : [EKU_CLIENT, EKU_SERVER]) : spec.eku
  if (eku !== null) { exts.push(new x509.ExtendedKeyUsageExtension(eku, false)) }
  if (spec.uris != null) { exts.push(new x509.SubjectAlternativeNameExtension(spec.uris.map(u => ({ type: 'url' as const, value: u })), false)) }
  exts.push(...(spec.extra ?? []))
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: spec.serial ?? randomSerial(),
    subject: `CN=${spec.name}`,
    issuer: `CN=${spec.issuer?.name ?? spec.name}`,
    notBefore: spec.notBefore ?? new Date(T0.getTime() - DAY),
    notAfter: spec.notAfter ?? new Date(T0.getTime() + 365 * DAY),
    publicKey: keys.publicKey,
    signingKey: signer.privateKey,
    signingAlgorithm: signer.privateKey.algorithm.name === 'Ed25519' ? { name: 'Ed25519' } : ECDSA,
    extensions: exts
  }, nodeCrypto)
  return { der: new Uint8Array(cert.rawData), keys, name: spec.name, ski }
}

export interface CrlSpec {
  issuer: Issued
  /** Key that signs, when not the issuer's (for wrong-key tests). */
  signingKey?: CryptoKey
  crlNumber?: number | null
  critical?: boolean
  revoked?: Array<{ serial: string, reason?: x509.X509CrlReason }>
  thisUpdate?: Date
  nextUpdate?: Date
}

/** A v2 CRL with cRLNumber (unless `crlNumber: null`), AKI, and the given entries. */
export async function makeCrl (spec: CrlSpec): Promise<Uint8Array> {
  const exts: x509.Extension[] = [new x509.AuthorityKeyIdentifierExtension(spec.issuer.ski)]
  if (spec.crlNumber !== null) {
    exts.push(new x509.Extension('2.5.29.20', spec.critical === true, new Uint8Array(encodeTlv(TAG.INTEGER, Uint8Array.of(spec.crlNumber ?? 1)))))
  }
  const key = spec.signingKey ?? spec.issuer.keys.privateKey
  const crl = await x509.X509CrlGenerator.create({
    issuer: `CN=${spec.issuer.name}`,
    thisUpdate: spec.thisUpdate ?? new Date(T0.getTime() - DAY),
    nextUpdate: spec.nextUpdate ?? new Date(T0.getTime() + 7 * DAY),
    entries: (spec.revoked ?? []).map(r => ({ serialNumber: r.serial, revocationDate: new Date(T0.getTime() - DAY), reason: r.reason ?? x509.X509CrlReason.keyCompromise })),
    signingAlgorithm: key.algorithm.name === 'Ed25519' ? { name: 'Ed25519' } : ECDSA,
    signingKey: key,
    extensions: exts
  }, nodeCrypto)
  return new Uint8Array(crl.rawData)
}

/** A root, an issuing CA under it and a node leaf under that: the mesh's usual shape. */
export async function meshChain (leafSpec: Partial<CertSpec> = {}): Promise<{ root: Issued, ca: Issued, leaf: Issued }> {
  const root = await makeCert({ name: 'Mesh Root', ca: true })
  const ca = await makeCert({ name: 'Mesh Issuing CA', ca: true, pathLen: 0, issuer: root })
  const leaf = await makeCert({ name: 'node-1', issuer: ca, uris: ['urn:dadm:node:node-1', 'urn:libp2p:peer:12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf'], ...leafSpec })
  return { root, ca, leaf }
}

export function randomSerial (): string {
  const b = webcrypto.getRandomValues(new Uint8Array(16))
  b[0] &= 0x7f
  b[0] |= 0x01
  return Buffer.from(b).toString('hex')
}

const cat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(Buffer.concat(parts))

/** Rebuilds Certificate DER from its three parts. */
export function assembleCertificate (tbs: Uint8Array, alg: Uint8Array, signature: Uint8Array): Uint8Array {
  return encodeTlv(TAG.SEQUENCE, cat(tbs, alg, encodeTlv(TAG.BIT_STRING, cat(Uint8Array.of(0), signature))))
}

/** Splits Certificate DER into (tbs, algorithm, signature) encodings. */
export function splitCertificate (der: Uint8Array): { tbs: Uint8Array, alg: Uint8Array, signature: Uint8Array } {
  const root = decodeDer(der)
  return { tbs: encoded(root.children[0]), alg: encoded(root.children[1]), signature: content(root.children[2]).subarray(1) }
}

/** Replaces the TBS field at `index` (0 = version wrapper, 1 = serial, ... 6 = SPKI) without re-signing. */
export function replaceTbsField (der: Uint8Array, index: number, field: Uint8Array): Uint8Array {
  const { tbs, alg, signature } = splitCertificate(der)
  const fields = decodeDer(tbs).children.map(n => encoded(n))
  fields[index] = field
  return assembleCertificate(encodeTlv(TAG.SEQUENCE, cat(...fields)), alg, signature)
}

/**
 * Re-issues `der` as an X.509 v1 certificate (no version field, no extensions), signed by
 * `signer` with ECDSA P-256/SHA-256: what WebCrypto-based generators cannot make.
 */
export function asV1 (der: Uint8Array, signer: CryptoKeyPair): Uint8Array {
  const { tbs, alg } = splitCertificate(der)
  const fields = decodeDer(tbs).children.filter(n => n.tag !== 0xa0 && n.tag !== 0xa3).map(n => encoded(n))
  const v1 = encodeTlv(TAG.SEQUENCE, cat(...fields))
  const signature = sign('sha256', v1, KeyObject.from(signer.privateKey))
  return assembleCertificate(v1, alg, new Uint8Array(signature))
}

/** P-256 group order. */
const N256 = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551')

/**
 * The same certificate with its ECDSA signature (r, s) replaced by (r, n - s): equally valid,
 * different bytes and fingerprint. The twin an attacker makes to dodge revocation-by-hash.
 */
export function highSTwin (der: Uint8Array): Uint8Array {
  const { tbs, alg, signature } = splitCertificate(der)
  const sig = decodeDer(signature)
  const r = encoded(sig.children[0])
  const s = BigInt('0x' + Buffer.from(content(sig.children[1])).toString('hex'))
  const flipped = N256 - s
  let hex = flipped.toString(16)
  if (hex.length % 2 === 1) { hex = '0' + hex }
  if (parseInt(hex.slice(0, 2), 16) >= 0x80) { hex = '00' + hex }
  const s2 = encodeTlv(TAG.INTEGER, Uint8Array.from(Buffer.from(hex, 'hex')))
  return assembleCertificate(tbs, alg, encodeTlv(TAG.SEQUENCE, cat(r, s2)))
}

/** `depth` nested SEQUENCEs with minimal lengths, built in O(depth). */
export function deepSequence (depth: number): Uint8Array {
  const lens = new Array<number>(depth + 1)
  lens[depth] = 0
  const header = (len: number): number => len < 0x80 ? 2 : len < 0x100 ? 3 : len < 0x10000 ? 4 : 5
  for (let i = depth - 1; i >= 0; i--) { lens[i] = i === depth - 1 ? 0 : header(lens[i + 1]) + lens[i + 1] }
  const out = new Uint8Array(header(lens[0]) + lens[0])
  let o = 0
  for (let i = 0; i < depth; i++) {
    const len = lens[i]
    out[o++] = 0x30
    if (len < 0x80) { out[o++] = len } else if (len < 0x100) { out[o++] = 0x81; out[o++] = len } else if (len < 0x10000) { out[o++] = 0x82; out[o++] = len >> 8; out[o++] = len & 0xff } else { out[o++] = 0x83; out[o++] = len >> 16; out[o++] = (len >> 8) & 0xff; out[o++] = len & 0xff }
  }
  return out
}

/** An RSA SubjectPublicKeyInfo with a `bits`-bit modulus (not a real key: it must be refused before use). */
export function fakeRsaSpki (bits: number): Uint8Array {
  const modulus = new Uint8Array(bits / 8 + 1)
  modulus[1] = 0xc1
  modulus[modulus.length - 1] = 0x01
  const rsaKey = encodeTlv(TAG.SEQUENCE, cat(encodeTlv(TAG.INTEGER, modulus), encodeTlv(TAG.INTEGER, Uint8Array.of(1, 0, 1))))
  const algId = encodeTlv(TAG.SEQUENCE, cat(encodeTlv(TAG.OID, Uint8Array.from(Buffer.from('2a864886f70d010101', 'hex'))), Uint8Array.of(5, 0)))
  return encodeTlv(TAG.SEQUENCE, cat(algId, encodeTlv(TAG.BIT_STRING, cat(Uint8Array.of(0), rsaKey))))
}

/** Runs fn and returns what it threw (fails the test if it did not throw). */
export function thrown (fn: () => unknown): Error & { code?: string, depth?: number } {
  try {
    fn()
  } catch (err) {
    return err as Error & { code?: string }
  }
  throw new Error('expected an error, none was thrown')
}
