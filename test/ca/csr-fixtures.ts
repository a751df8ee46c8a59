import { generateKeyPairSync, randomBytes, sign } from 'node:crypto'
import { peerIdFromEd25519Spki } from '../../src/identity/peer-id.ts'
import { encodeTlv, TAG } from '../../src/util/der.ts'
import type { KeyObject } from 'node:crypto'

/**
 * Hand-built PKCS#10 requests for adversarial tests: any key (also ones WebCrypto refuses to
 * make, such as P-192), any extensions, a broken signature. Encoded with our own DER writer so
 * the test does not depend on a library that might refuse to build bad input.
 */

const cat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) { out.set(p, o); o += p.length }
  return out
}
export const seq = (...parts: Uint8Array[]): Uint8Array => encodeTlv(TAG.SEQUENCE, cat(...parts))
export const set = (...parts: Uint8Array[]): Uint8Array => encodeTlv(TAG.SET, cat(...parts))
export const oid = (dotted: string): Uint8Array => {
  const arcs = dotted.split('.').map(Number)
  const bytes: number[] = [arcs[0] * 40 + arcs[1]]
  for (const a of arcs.slice(2)) {
    const enc: number[] = [a & 0x7f]
    for (let v = Math.floor(a / 128); v > 0; v = Math.floor(v / 128)) { enc.unshift((v & 0x7f) | 0x80) }
    bytes.push(...enc)
  }
  return encodeTlv(TAG.OID, Uint8Array.from(bytes))
}
export const int = (n: number): Uint8Array => encodeTlv(TAG.INTEGER, Uint8Array.of(n))
export const octets = (b: Uint8Array): Uint8Array => encodeTlv(TAG.OCTET_STRING, b)
export const bits = (b: Uint8Array, unused = 0): Uint8Array => encodeTlv(TAG.BIT_STRING, cat(Uint8Array.of(unused), b))
const utf8 = (s: string): Uint8Array => encodeTlv(TAG.UTF8_STRING, new TextEncoder().encode(s))
const TRUE = Uint8Array.of(0x01, 0x01, 0xff)

export interface ExtSpec { oid: string, critical?: boolean, value: Uint8Array }

export const ext = {
  san: (uris: string[], dns: string[] = []): ExtSpec => ({
    oid: '2.5.29.17',
    value: seq(...uris.map(u => encodeTlv(0x86, new TextEncoder().encode(u))), ...dns.map(d => encodeTlv(0x82, new TextEncoder().encode(d))))
  }),
  caTrue: (): ExtSpec => ({ oid: '2.5.29.19', critical: true, value: seq(TRUE) }),
  /** keyUsage with digitalSignature (bit 0) and keyCertSign (bit 5). */
  keyCertSign: (): ExtSpec => ({ oid: '2.5.29.15', critical: true, value: bits(Uint8Array.of(0x84), 2) }),
  /** keyUsage with cRLSign (bit 6) only. */
  crlSign: (): ExtSpec => ({ oid: '2.5.29.15', critical: true, value: bits(Uint8Array.of(0x02), 1) })
}

export interface RawCsrOptions {
  privateKey: KeyObject
  /** SubjectPublicKeyInfo DER to put in the request (defaults to the key's own). */
  spki: Uint8Array
  cn?: string
  extensions?: ExtSpec[]
  /** Flip a bit in the signature. */
  badSignature?: boolean
}

const SIG_ALG = {
  ec: seq(oid('1.2.840.10045.4.3.2')),
  ed25519: seq(oid('1.3.101.112')),
  rsa: seq(oid('1.2.840.113549.1.1.11'), Uint8Array.of(0x05, 0x00))
}

/** Builds and signs a CSR. */
export function rawCsr (o: RawCsrOptions): Uint8Array {
  const exts = o.extensions ?? []
  const extensionRequest = exts.length === 0
    ? new Uint8Array(0)
    : seq(oid('1.2.840.113549.1.9.14'), set(seq(...exts.map(e => seq(oid(e.oid), ...(e.critical === true ? [TRUE] : []), octets(e.value))))))
  const info = seq(
    int(0),
    seq(set(seq(oid('2.5.4.3'), utf8(o.cn ?? 'node-1')))),
    o.spki,
    encodeTlv(0xa0, extensionRequest)
  )
  const type = o.privateKey.asymmetricKeyType as 'ec' | 'ed25519' | 'rsa'
  const signature = new Uint8Array(sign(type === 'ed25519' ? null : 'sha256', info, o.privateKey))
  if (o.badSignature === true) { signature[signature.length - 5] ^= 0x01 }
  return seq(info, SIG_ALG[type], bits(signature))
}

export interface TestKey { privateKey: KeyObject, spki: Uint8Array }

const spkiOf = (pub: KeyObject): Uint8Array => new Uint8Array(pub.export({ format: 'der', type: 'spki' }))

export function ecKey (curve = 'P-256'): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve })
  return { privateKey, spki: spkiOf(publicKey) }
}
export function ed25519Key (): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  return { privateKey, spki: spkiOf(publicKey) }
}
export function rsaKey (bits: number): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: bits })
  return { privateKey, spki: spkiOf(publicKey) }
}

/** An RSA SPKI with a random `bitsLen`-bit modulus: no one needs to hold a key this size to send one. */
export function fakeRsaSpki (bitsLen: number): Uint8Array {
  const n = randomBytes(bitsLen / 8)
  n[0] |= 0x80
  n[n.length - 1] |= 1
  const rsaPublicKey = seq(encodeTlv(TAG.INTEGER, cat(Uint8Array.of(0), n)), encodeTlv(TAG.INTEGER, Uint8Array.of(1, 0, 1)))
  return seq(seq(oid('1.2.840.113549.1.1.1'), Uint8Array.of(0x05, 0x00)), bits(rsaPublicKey))
}

/** A PeerId to put in node CSRs (any valid Ed25519 PeerId will do for the CA). */
export function somePeerId (): string {
  return peerIdFromEd25519Spki(ed25519Key().spki)
}

/** The SAN a valid node CSR carries. */
export function nodeSan (nodeId: string, peerId: string): ExtSpec {
  return ext.san([`urn:dadm:node:${nodeId}`, `urn:libp2p:peer:${peerId}`])
}

/** `depth` nested SEQUENCEs (the innermost empty), as one DER element. */
export function deepNesting (depth: number): Uint8Array {
  const headers: Uint8Array[] = []
  let len = 0
  for (let i = 0; i < depth; i++) {
    const h = len < 0x80 ? [0x30, len] : len < 0x100 ? [0x30, 0x81, len] : len < 0x10000 ? [0x30, 0x82, len >> 8, len & 0xff] : [0x30, 0x83, len >> 16, (len >> 8) & 0xff, len & 0xff]
    headers.push(Uint8Array.from(h))
    len += h.length
  }
  return cat(...headers.reverse())
}
