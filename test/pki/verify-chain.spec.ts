import 'reflect-metadata'
import * as x509 from '@peculiar/x509'
import { expect } from 'aegir/chai'
import { parseCertificate } from '../../src/pki/certificate.ts'
import { verifyChain } from '../../src/pki/verify-chain.ts'
import { encodeTlv, TAG } from '../../src/util/der.ts'
import {
  asV1, assembleCertificate, DAY, deepSequence, EKU_SERVER, fakeRsaSpki, highSTwin, makeCert, makeCrl, makeKeys, meshChain,
  replaceTbsField, splitCertificate, T0, thrown
} from './fixtures.ts'

const SECOND = 1000

describe('verifyChain: the mesh chain validator', () => {
  it('accepts root -> issuing CA -> node and returns the path leaf first, anchor last', async () => {
    const { root, ca, leaf } = await meshChain()
    const result = verifyChain(T0, leaf.der, [ca.der], [root.der], [])
    expect(result.path.map(c => c.subject.text)).to.deep.equal(['CN=node-1', 'CN=Mesh Issuing CA', 'CN=Mesh Root'])
    expect(result.anchor.subject.text).to.equal('CN=Mesh Root')
  })

  it('accepts Ed25519 chains', async () => {
    const root = await makeCert({ name: 'Ed Root', ca: true, keys: await makeKeys('Ed25519') })
    const leaf = await makeCert({ name: 'ed-node', issuer: root, keys: await makeKeys('Ed25519') })
    expect(verifyChain(T0, leaf.der, [], [root.der], []).path).to.have.length(2)
  })

  it('supports several trusted roots at once (CA rotation)', async () => {
    const old = await meshChain()
    const rotated = await meshChain()
    const r = verifyChain(T0, rotated.leaf.der, [old.ca.der, rotated.ca.der], [old.root.der, rotated.root.der], [])
    expect(r.anchor.fingerprint).to.equal(parseCertificate(rotated.root.der).fingerprint)
  })

  it('a leaf used as an issuer -> NOT_A_CA', async () => {
    const { root, ca, leaf } = await meshChain()
    const child = await makeCert({ name: 'child', issuer: leaf })
    expect(thrown(() => verifyChain(T0, child.der, [leaf.der, ca.der], [root.der], []))).to.include({ name: 'ChainValidationError', code: 'NOT_A_CA', depth: 1 })
  })

  it('expired by 1 s -> EXPIRED; not yet valid by 1 s -> NOT_YET_VALID; the bounds themselves pass', async () => {
    const notBefore = new Date(T0.getTime() - DAY)
    const notAfter = new Date(T0.getTime() + DAY)
    const { root, ca, leaf } = await meshChain({ notBefore, notAfter })
    const at = (t: number): unknown => verifyChain(new Date(t), leaf.der, [ca.der], [root.der], [])
    expect(() => at(notAfter.getTime())).to.not.throw()
    expect(() => at(notBefore.getTime())).to.not.throw()
    expect(thrown(() => at(notAfter.getTime() + SECOND))).to.include({ code: 'EXPIRED', depth: 0 })
    expect(thrown(() => at(notBefore.getTime() - SECOND))).to.include({ code: 'NOT_YET_VALID', depth: 0 })
  })

  it('an expired intermediate -> EXPIRED at depth 1; an alternative valid copy of it is found by backtracking', async () => {
    const root = await makeCert({ name: 'Root', ca: true })
    const caKeys = await makeKeys()
    const expired = await makeCert({ name: 'CA', ca: true, keys: caKeys, issuer: root, notAfter: new Date(T0.getTime() - SECOND) })
    const current = await makeCert({ name: 'CA', ca: true, keys: caKeys, issuer: root })
    const leaf = await makeCert({ name: 'n', issuer: current })
    expect(thrown(() => verifyChain(T0, leaf.der, [expired.der], [root.der], []))).to.include({ code: 'EXPIRED', depth: 1 })
    expect(verifyChain(T0, leaf.der, [expired.der, current.der], [root.der], []).path[1].fingerprint)
      .to.equal(parseCertificate(current.der).fingerprint)
  })

  it('a v1 certificate as an intermediate -> NOT_A_CA; as the leaf -> MALFORMED_CERTIFICATE', async () => {
    const { root, ca, leaf } = await meshChain()
    const v1Ca = asV1(ca.der, root.keys)
    expect(parseCertificate(v1Ca).version).to.equal(1)
    expect(thrown(() => verifyChain(T0, leaf.der, [v1Ca], [root.der], []))).to.include({ code: 'NOT_A_CA', depth: 1 })
    const v1Leaf = asV1(leaf.der, ca.keys)
    expect(thrown(() => verifyChain(T0, v1Leaf, [ca.der], [root.der], []))).to.include({ code: 'MALFORMED_CERTIFICATE', depth: 0 })
  })

  it('no path to a trusted root -> UNKNOWN_ISSUER', async () => {
    const { ca, leaf } = await meshChain()
    const other = await meshChain()
    expect(thrown(() => verifyChain(T0, leaf.der, [ca.der], [other.root.der], []))).to.include({ code: 'UNKNOWN_ISSUER' })
  })

  it('a forged signature (right names, wrong key) -> BAD_SIGNATURE', async () => {
    const { root, ca } = await meshChain()
    const impostor = { ...ca, keys: await makeKeys() }
    const leaf = await makeCert({ name: 'n', issuer: impostor })
    expect(thrown(() => verifyChain(T0, leaf.der, [ca.der], [root.der], []))).to.include({ code: 'BAD_SIGNATURE', depth: 0 })
  })

  it('pathLenConstraint exceeded -> PATH_LEN_EXCEEDED', async () => {
    const { root, ca } = await meshChain()
    const sub = await makeCert({ name: 'Sub CA', ca: true, issuer: ca })
    const leaf = await makeCert({ name: 'n', issuer: sub })
    expect(thrown(() => verifyChain(T0, leaf.der, [sub.der, ca.der], [root.der], []))).to.include({ code: 'PATH_LEN_EXCEEDED', depth: 2 })
  })

  it('leaf key usage and EKU per policy; a CA as leaf is refused', async () => {
    const { root, ca } = await meshChain()
    const serverOnly = await makeCert({ name: 'n', issuer: ca, eku: [EKU_SERVER] })
    expect(thrown(() => verifyChain(T0, serverOnly.der, [ca.der], [root.der], []))).to.include({ code: 'EXT_KEY_USAGE' })
    expect(() => verifyChain(T0, serverOnly.der, [ca.der], [root.der], [], { requiredEku: [EKU_SERVER] })).to.not.throw()
    const noEku = await makeCert({ name: 'n', issuer: ca, eku: null })
    expect(thrown(() => verifyChain(T0, noEku.der, [ca.der], [root.der], []))).to.include({ code: 'EXT_KEY_USAGE' })
    const keyEnc = await makeCert({ name: 'n', issuer: ca, keyUsage: x509.KeyUsageFlags.keyEncipherment })
    expect(thrown(() => verifyChain(T0, keyEnc.der, [ca.der], [root.der], []))).to.include({ code: 'KEY_USAGE' })
    expect(thrown(() => verifyChain(T0, ca.der, [], [root.der], []))).to.include({ code: 'KEY_USAGE' })
  })

  it('an unknown critical extension -> UNKNOWN_CRITICAL_EXTENSION', async () => {
    const { root, ca } = await meshChain()
    const leaf = await makeCert({ name: 'n', issuer: ca, extra: [new x509.Extension('1.3.6.1.4.1.99999.1', true, Uint8Array.of(5, 0))] })
    expect(thrown(() => verifyChain(T0, leaf.der, [ca.der], [root.der], []))).to.include({ code: 'UNKNOWN_CRITICAL_EXTENSION' })
  })

  it('outer signature algorithm differs from the one in the TBS -> UNSUPPORTED_ALGORITHM', async () => {
    const { root, ca, leaf } = await meshChain()
    const { tbs, signature } = splitCertificate(leaf.der)
    const sha384 = encodeTlv(TAG.SEQUENCE, encodeTlv(TAG.OID, Uint8Array.from(Buffer.from('2a8648ce3d040303', 'hex'))))
    const mismatched = assembleCertificate(tbs, sha384, signature)
    expect(thrown(() => verifyChain(T0, mismatched, [ca.der], [root.der], []))).to.include({ code: 'UNSUPPORTED_ALGORITHM' })
  })

  it('an RSA-16384 leaf key -> WEAK_KEY, decided in milliseconds', async () => {
    const { root, ca, leaf } = await meshChain()
    const huge = replaceTbsField(leaf.der, 6, fakeRsaSpki(16384))
    const started = performance.now()
    expect(thrown(() => verifyChain(T0, huge, [ca.der], [root.der], []))).to.include({ code: 'WEAK_KEY' })
    expect(performance.now() - started).to.be.below(50)
  })

  it('a 10,000-deep ASN.1 nesting as the leaf -> MALFORMED_CERTIFICATE caused by NESTING_TOO_DEEP', async () => {
    const { root } = await meshChain()
    const err = thrown(() => verifyChain(T0, deepSequence(10_000), [], [root.der], []))
    expect(err).to.include({ name: 'ChainValidationError', code: 'MALFORMED_CERTIFICATE' })
    expect((err.cause as { code?: string }).code).to.equal('NESTING_TOO_DEEP')
  })

  it('a 100-intermediate same-key chain ends in well under 1 s with PATH_TOO_LONG, or WORK_BUDGET_EXCEEDED if depth is allowed', async () => {
    const root = await makeCert({ name: 'Root', ca: true })
    const shared = await makeKeys()
    // ICA #0 self-signed (untrusted) <- ICA #1 <- ... <- ICA #99 <- leaf, every ICA with the same key.
    const chain = [await makeCert({ name: 'ICA 0', ca: true, keys: shared })]
    for (let i = 1; i < 100; i++) { chain.push(await makeCert({ name: `ICA ${i}`, ca: true, keys: shared, issuer: chain[i - 1] })) }
    const leaf = await makeCert({ name: 'n', issuer: chain[99] })
    const ders = chain.map(c => c.der).reverse()
    let started = performance.now()
    expect(thrown(() => verifyChain(T0, leaf.der, ders, [root.der], []))).to.include({ code: 'PATH_TOO_LONG' })
    expect(performance.now() - started).to.be.below(1000)
    started = performance.now()
    expect(thrown(() => verifyChain(T0, leaf.der, ders, [root.der], [], { maxIntermediates: 1000, maxPathCertificates: 1000 })))
      .to.include({ code: 'WORK_BUDGET_EXCEEDED' })
    expect(performance.now() - started).to.be.below(1000)
  })

  it('the expected node_id / PeerId is checked -> NAME_MISMATCH', async () => {
    const { root, ca, leaf } = await meshChain()
    expect(() => verifyChain(T0, leaf.der, [ca.der], [root.der], [], { expectedNodeId: 'node-1' })).to.not.throw()
    expect(thrown(() => verifyChain(T0, leaf.der, [ca.der], [root.der], [], { expectedNodeId: 'node-2' }))).to.include({ code: 'NAME_MISMATCH' })
    expect(thrown(() => verifyChain(T0, leaf.der, [ca.der], [root.der], [], { expectedPeerId: '12D3KooWQYV9dGMFoRzNStwpXztXaBUjtPqi6aU76ZgUriHhKust' }))).to.include({ code: 'NAME_MISMATCH' })
  })

  describe('revocation (by issuer name and serial)', () => {
    it('a revoked leaf -> REVOKED; a revoked intermediate -> REVOKED at depth 1', async () => {
      const { root, ca, leaf } = await meshChain()
      const serial = parseCertificate(leaf.der).serialHex
      const crl = await makeCrl({ issuer: ca, revoked: [{ serial }] })
      expect(thrown(() => verifyChain(T0, leaf.der, [ca.der], [root.der], [crl]))).to.include({ code: 'REVOKED', depth: 0 })
      const rootCrl = await makeCrl({ issuer: root, revoked: [{ serial: parseCertificate(ca.der).serialHex }] })
      expect(thrown(() => verifyChain(T0, leaf.der, [ca.der], [root.der], [rootCrl]))).to.include({ code: 'REVOKED', depth: 1 })
    })

    it('a revoked certificate re-encoded with a high-S ECDSA signature is still revoked', async () => {
      const { root, ca, leaf } = await meshChain()
      const twin = highSTwin(leaf.der)
      expect(parseCertificate(twin).fingerprint).to.not.equal(parseCertificate(leaf.der).fingerprint)
      // The twin is a valid certificate in its own right...
      expect(() => verifyChain(T0, twin, [ca.der], [root.der], [])).to.not.throw()
      // ...and revoking the original revokes it too.
      const crl = await makeCrl({ issuer: ca, revoked: [{ serial: parseCertificate(leaf.der).serialHex }] })
      expect(thrown(() => verifyChain(T0, twin, [ca.der], [root.der], [crl]))).to.include({ code: 'REVOKED' })
    })

    it('a CRL signed by a key without cRLSign -> CRL_NO_CRL_SIGN', async () => {
      const root = await makeCert({ name: 'Root', ca: true })
      const ca = await makeCert({ name: 'CA', ca: true, issuer: root, keyUsage: x509.KeyUsageFlags.keyCertSign })
      const leaf = await makeCert({ name: 'n', issuer: ca })
      const crl = await makeCrl({ issuer: ca })
      expect(thrown(() => verifyChain(T0, leaf.der, [ca.der], [root.der], [crl]))).to.include({ code: 'CRL_NO_CRL_SIGN', depth: 0 })
    })

    it('a CRL signed by the wrong key -> CRL_BAD_SIGNATURE', async () => {
      const { root, ca, leaf } = await meshChain()
      const crl = await makeCrl({ issuer: ca, signingKey: (await makeKeys()).privateKey })
      expect(thrown(() => verifyChain(T0, leaf.der, [ca.der], [root.der], [crl]))).to.include({ code: 'CRL_BAD_SIGNATURE' })
    })

    it('CRLs without a cRLNumber, or with a critical one -> CRL_INVALID', async () => {
      const { root, ca, leaf } = await meshChain()
      for (const crl of [await makeCrl({ issuer: ca, crlNumber: null }), await makeCrl({ issuer: ca, critical: true })]) {
        expect(thrown(() => verifyChain(T0, leaf.der, [ca.der], [root.der], [crl]))).to.include({ code: 'CRL_INVALID' })
      }
    })

    it('requireRevocationInfo: no CRL -> CRL_MISSING, a stale one -> CRL_EXPIRED, fresh ones pass', async () => {
      const { root, ca, leaf } = await meshChain()
      const policy = { requireRevocationInfo: true }
      const rootCrl = await makeCrl({ issuer: root })
      expect(thrown(() => verifyChain(T0, leaf.der, [ca.der], [root.der], [rootCrl], policy))).to.include({ code: 'CRL_MISSING', depth: 0 })
      const stale = await makeCrl({ issuer: ca, nextUpdate: new Date(T0.getTime() - SECOND) })
      expect(thrown(() => verifyChain(T0, leaf.der, [ca.der], [root.der], [rootCrl, stale], policy))).to.include({ code: 'CRL_EXPIRED', depth: 0 })
      expect(() => verifyChain(T0, leaf.der, [ca.der], [root.der], [rootCrl, stale], { ...policy, crlGraceMs: 60_000 })).to.not.throw()
      const fresh = await makeCrl({ issuer: ca })
      expect(() => verifyChain(T0, leaf.der, [ca.der], [root.der], [rootCrl, fresh], policy)).to.not.throw()
    })

    it('a CRL of another issuer listing the same serial does not revoke', async () => {
      const { root, ca, leaf } = await meshChain()
      const crl = await makeCrl({ issuer: root, revoked: [{ serial: parseCertificate(leaf.der).serialHex }] })
      expect(() => verifyChain(T0, leaf.der, [ca.der], [root.der], [crl])).to.not.throw()
    })
  })
})
