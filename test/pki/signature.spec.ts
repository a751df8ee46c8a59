import { generateKeyPairSync, sign } from 'node:crypto'
import { expect } from 'aegir/chai'
import { parseAlgorithmIdentifier, verifyEd25519, verifyP1363, verifySignature } from '../../src/pki/signature.ts'
import { decodeDer } from '../../src/util/der.ts'
import { thrown } from './fixtures.ts'
import type { AlgorithmIdentifier } from '../../src/pki/signature.ts'

const alg = (hex: string): AlgorithmIdentifier => parseAlgorithmIdentifier(decodeDer(Uint8Array.from(Buffer.from(hex, 'hex'))))
const ECDSA_SHA256 = '300a06082a8648ce3d040302'
const ECDSA_SHA256_NULL = '300c06082a8648ce3d0403020500'
const RSA_SHA256 = '300d06092a864886f70d01010b0500'
const RSA_SHA256_NO_NULL = '300b06092a864886f70d01010b'
const RSA_SHA1 = '300d06092a864886f70d0101050500'
const ED25519 = '300506032b6570'
const N256 = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551')

describe('signature: algorithms by OID', () => {
  const data = new TextEncoder().encode('mesh transcript')
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const ed = generateKeyPairSync('ed25519')
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })

  it('verifies ECDSA (DER), Ed25519 and RSA PKCS#1 v1.5 and rejects a wrong message', () => {
    const ecSig = sign('sha256', data, ec.privateKey)
    expect(verifySignature(alg(ECDSA_SHA256), ec.publicKey, data, ecSig)).to.equal(true)
    expect(verifySignature(alg(ECDSA_SHA256), ec.publicKey, Uint8Array.of(1), ecSig)).to.equal(false)
    const edSig = sign(null, data, ed.privateKey)
    expect(verifySignature(alg(ED25519), ed.publicKey, data, edSig)).to.equal(true)
    expect(verifyEd25519(ed.publicKey, data, edSig)).to.equal(true)
    expect(verifySignature(alg(RSA_SHA256), rsa.publicKey, data, sign('sha256', data, rsa.privateKey))).to.equal(true)
  })

  it('refuses parameter mismatches: ECDSA with NULL, RSA without NULL (BAD_ALGORITHM_PARAMETERS)', () => {
    const ecSig = sign('sha256', data, ec.privateKey)
    expect(thrown(() => verifySignature(alg(ECDSA_SHA256_NULL), ec.publicKey, data, ecSig))).to.include({ name: 'SignatureAlgorithmError', code: 'BAD_ALGORITHM_PARAMETERS' })
    const rsaSig = sign('sha256', data, rsa.privateKey)
    expect(thrown(() => verifySignature(alg(RSA_SHA256_NO_NULL), rsa.publicKey, data, rsaSig))).to.include({ code: 'BAD_ALGORITHM_PARAMETERS' })
  })

  it('refuses SHA-1 unless the policy allows it, unknown OIDs, and the wrong key type', () => {
    const sha1Sig = sign('sha1', data, rsa.privateKey)
    expect(thrown(() => verifySignature(alg(RSA_SHA1), rsa.publicKey, data, sha1Sig))).to.include({ code: 'SHA1_NOT_ALLOWED' })
    expect(verifySignature(alg(RSA_SHA1), rsa.publicKey, data, sha1Sig, { allowSha1: true })).to.equal(true)
    expect(thrown(() => verifySignature(alg('300b06092a864886f70d01010a'), rsa.publicKey, data, sha1Sig))).to.include({ code: 'UNSUPPORTED_ALGORITHM' })
    expect(thrown(() => verifySignature(alg(ECDSA_SHA256), ed.publicKey, data, sha1Sig))).to.include({ code: 'KEY_ALGORITHM_MISMATCH' })
  })

  it('ACCEPTS high-S ECDSA signatures (documented choice: revocation is never by signature bytes)', () => {
    const p1363 = sign('sha256', data, { key: ec.privateKey, dsaEncoding: 'ieee-p1363' })
    const r = p1363.subarray(0, 32)
    const s = BigInt('0x' + Buffer.from(p1363.subarray(32)).toString('hex'))
    const flipped = Buffer.from((N256 - s).toString(16).padStart(64, '0'), 'hex')
    const twin = Buffer.concat([r, flipped])
    expect(twin.equals(p1363)).to.equal(false)
    expect(verifyP1363('sha256', ec.publicKey, data, p1363)).to.equal(true)
    expect(verifyP1363('sha256', ec.publicKey, data, twin)).to.equal(true)
  })

  it('rejects BER (non-minimal) ECDSA signature encodings', () => {
    const der = sign('sha256', data, ec.privateKey)
    const node = decodeDer(der)
    const [r, s] = node.children.map(c => Buffer.from(der.subarray(c.contentStart, c.end)))
    // Pad r with a redundant leading zero: same number, not DER.
    const padded = Buffer.concat([Buffer.of(0x02, r.length + 1, 0x00), r, Buffer.of(0x02, s.length), s])
    const ber = Buffer.concat([Buffer.of(0x30, padded.length), padded])
    expect(verifySignature(alg(ECDSA_SHA256), ec.publicKey, data, ber)).to.equal(false)
  })
})
