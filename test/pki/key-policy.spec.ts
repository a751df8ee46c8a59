import { generateKeyPairSync } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { parseCertificate } from '../../src/pki/certificate.ts'
import { checkPublicKey } from '../../src/pki/key-policy.ts'
import { pemToDer } from '../../src/util/pem.ts'
import { fakeRsaSpki, thrown } from './fixtures.ts'
import { vectorsDir } from './vectors/locate.ts'

const spki = (k: ReturnType<typeof generateKeyPairSync>['publicKey']): Uint8Array => new Uint8Array(k.export({ format: 'der', type: 'spki' }))

describe('key-policy: public key hygiene', () => {
  it('accepts P-256, P-384 and Ed25519', () => {
    expect(checkPublicKey(spki(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey))).to.include({ kind: 'ec', curve: 'P-256' })
    expect(checkPublicKey(spki(generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey))).to.include({ kind: 'ec', curve: 'P-384' })
    expect(checkPublicKey(spki(generateKeyPairSync('ed25519').publicKey)).kind).to.equal('ed25519')
  })

  it('refuses other curves (P-521, secp256k1) as UNSUPPORTED_KEY', () => {
    for (const namedCurve of ['P-521', 'secp256k1']) {
      expect(thrown(() => checkPublicKey(spki(generateKeyPairSync('ec', { namedCurve }).publicKey)))).to.include({ name: 'KeyPolicyError', code: 'UNSUPPORTED_KEY' })
    }
    expect(thrown(() => checkPublicKey(spki(generateKeyPairSync('ed25519').publicKey), { allowEd25519: false }))).to.include({ code: 'UNSUPPORTED_KEY' })
  })

  it('accepts RSA-2048, refuses RSA-1024 (WEAK_KEY), honours a configured minimum', () => {
    const k2048 = spki(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey)
    expect(checkPublicKey(k2048)).to.include({ kind: 'rsa', bits: 2048 })
    expect(thrown(() => checkPublicKey(k2048, { minRsaBits: 3072 }))).to.include({ code: 'WEAK_KEY' })
    expect(thrown(() => checkPublicKey(spki(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey)))).to.include({ name: 'KeyPolicyError', code: 'WEAK_KEY' })
  })

  it('refuses an RSA-16384 key from its DER length alone, in well under a millisecond of work', () => {
    const huge = fakeRsaSpki(16384)
    const started = performance.now()
    for (let i = 0; i < 100; i++) { expect(thrown(() => checkPublicKey(huge))).to.include({ name: 'KeyPolicyError', code: 'KEY_TOO_LARGE' }) }
    expect((performance.now() - started) / 100).to.be.below(1)
  })

  it('refuses DSA and explicit curve parameters (UNSUPPORTED_KEY)', () => {
    const dsa = parseCertificate(readFileSync(join(vectorsDir(), 'pkits', 'certs', 'DSACACert.crt')))
    expect(thrown(() => checkPublicKey(dsa.spki))).to.include({ code: 'UNSUPPORTED_KEY' })
    const limbo = JSON.parse(readFileSync(join(vectorsDir(), 'x509-limbo', 'limbo.json'), 'utf8'))
    const explicit = limbo.testcases.find((c: { id: string }) => c.id === 'webpki::explicit-curve')
    const cert = parseCertificate(pemToDer(explicit.peer_certificate, 'CERTIFICATE'))
    expect(thrown(() => checkPublicKey(cert.spki))).to.include({ code: 'UNSUPPORTED_KEY' })
  })

  it('refuses malformed keys: a point off the curve, a wrong-length point, garbage (MALFORMED_KEY)', () => {
    const good = spki(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey)
    const offCurve = Uint8Array.from(good)
    offCurve[offCurve.length - 1] ^= 0x01
    expect(thrown(() => checkPublicKey(offCurve))).to.include({ code: 'MALFORMED_KEY' })
    expect(thrown(() => checkPublicKey(good.subarray(0, good.length - 1)))).to.include({ code: 'MALFORMED_KEY' })
    expect(thrown(() => checkPublicKey(Uint8Array.of(1, 2, 3)))).to.include({ code: 'MALFORMED_KEY' })
  })
})
