import 'reflect-metadata'
import * as x509 from '@peculiar/x509'
import { expect } from 'aegir/chai'
import { parseCertificate } from '../../src/pki/certificate.ts'
import { ChainVerifier } from '../../src/pki/chain-verifier.ts'
import { DAY, highSTwin, makeCert, makeCrl, makeKeys, meshChain, T0, thrown } from './fixtures.ts'

const PEER = '12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf'

describe('ChainVerifier: cached hot path', () => {
  it('verifies cold once, then serves hits that still re-check the validity window', async () => {
    const notAfter = new Date(T0.getTime() + DAY)
    const { root, ca, leaf } = await meshChain({ notAfter })
    const v = new ChainVerifier({ roots: [root.der], intermediates: [ca.der] })
    const first = v.verify(T0, leaf.der)
    expect(v.cacheSize).to.equal(1)
    expect(v.verify(T0, leaf.der)).to.equal(first)
    expect(v.verify(notAfter, leaf.der)).to.equal(first)
    expect(thrown(() => v.verify(new Date(notAfter.getTime() + 1000), leaf.der))).to.include({ name: 'ChainValidationError', code: 'EXPIRED' })
  })

  it('uses peer-supplied chains and checks the expected PeerId on hits too', async () => {
    const { root, ca, leaf } = await meshChain()
    const v = new ChainVerifier({ roots: [root.der] })
    expect(thrown(() => v.verify(T0, leaf.der))).to.include({ code: 'UNKNOWN_ISSUER' })
    v.verify(T0, leaf.der, [ca.der], { peerId: PEER, nodeId: 'node-1' })
    expect(thrown(() => v.verify(T0, leaf.der, [ca.der], { nodeId: 'node-2' }))).to.include({ code: 'NAME_MISMATCH' })
  })

  it('installing a newer CRL invalidates cached results for the revoked certificate', async () => {
    const { root, ca, leaf } = await meshChain()
    const v = new ChainVerifier({ roots: [root.der], intermediates: [ca.der] })
    v.verify(T0, leaf.der)
    const serial = parseCertificate(leaf.der).serialHex
    const result = v.installCrl(await makeCrl({ issuer: ca, crlNumber: 2, revoked: [{ serial }] }), T0)
    expect(result).to.deep.include({ crlNumber: 2n, newlyRevoked: [serial] })
    expect(thrown(() => v.verify(T0, leaf.der))).to.include({ code: 'REVOKED', depth: 0 })
    expect(v.isRevoked(parseCertificate(leaf.der))).to.equal(true)
  })

  it('a revoked certificate re-encoded with a high-S signature is still revoked (cache keyed by bytes, revocation by issuer + serial)', async () => {
    const { root, ca, leaf } = await meshChain()
    const v = new ChainVerifier({ roots: [root.der], intermediates: [ca.der] })
    v.installCrl(await makeCrl({ issuer: ca, crlNumber: 1, revoked: [{ serial: parseCertificate(leaf.der).serialHex }] }), T0)
    expect(thrown(() => v.verify(T0, leaf.der))).to.include({ code: 'REVOKED' })
    expect(thrown(() => v.verify(T0, highSTwin(leaf.der)))).to.include({ code: 'REVOKED' })
  })

  it('an older or equal CRL number is refused (CRL_NUMBER_REPLAYED) and un-revokes nothing', async () => {
    const { root, ca, leaf } = await meshChain()
    const v = new ChainVerifier({ roots: [root.der], intermediates: [ca.der] })
    const serial = parseCertificate(leaf.der).serialHex
    const older = await makeCrl({ issuer: ca, crlNumber: 4 })
    const newer = await makeCrl({ issuer: ca, crlNumber: 5, revoked: [{ serial }] })
    v.installCrl(newer, T0)
    expect(thrown(() => v.installCrl(older, T0))).to.include({ name: 'ChainValidationError', code: 'CRL_NUMBER_REPLAYED' })
    expect(thrown(() => v.installCrl(newer, T0))).to.include({ code: 'CRL_NUMBER_REPLAYED' })
    expect(v.crlNumber(parseCertificate(ca.der).subject.key)).to.equal(5n)
    expect(thrown(() => v.verify(T0, leaf.der))).to.include({ code: 'REVOKED' })
  })

  it('refuses CRLs that are not CA-signed: unknown issuer, wrong key, no cRLSign', async () => {
    const { root, ca } = await meshChain()
    const v = new ChainVerifier({ roots: [root.der], intermediates: [ca.der] })
    const stranger = await makeCrl({ issuer: await makeCert({ name: 'Stranger', ca: true }) })
    expect(thrown(() => v.installCrl(stranger, T0))).to.include({ code: 'UNKNOWN_ISSUER' })
    const forged = await makeCrl({ issuer: ca, signingKey: (await makeKeys()).privateKey })
    expect(thrown(() => v.installCrl(forged, T0))).to.include({ code: 'CRL_BAD_SIGNATURE' })
    const noCrlSign = await makeCert({ name: 'Cert-only CA', ca: true, issuer: root, keyUsage: x509.KeyUsageFlags.keyCertSign })
    const v2 = new ChainVerifier({ roots: [root.der], intermediates: [noCrlSign.der] })
    const unauthorized = await makeCrl({ issuer: noCrlSign })
    expect(thrown(() => v2.installCrl(unauthorized, T0))).to.include({ code: 'CRL_NO_CRL_SIGN' })
    expect(v2.crls).to.have.length(0)
  })

  it('with requireRevocationInfo, a hit needs a fresh CRL for every issuer in the path', async () => {
    const { root, ca, leaf } = await meshChain()
    const v = new ChainVerifier({ roots: [root.der], intermediates: [ca.der], policy: { requireRevocationInfo: true } })
    expect(thrown(() => v.verify(T0, leaf.der))).to.include({ code: 'CRL_MISSING', depth: 0 })
    v.installCrl(await makeCrl({ issuer: ca, nextUpdate: new Date(T0.getTime() + DAY) }), T0)
    v.installCrl(await makeCrl({ issuer: root, nextUpdate: new Date(T0.getTime() + DAY) }), T0)
    v.verify(T0, leaf.der)
    expect(thrown(() => v.verify(new Date(T0.getTime() + 2 * DAY), leaf.der))).to.include({ code: 'CRL_EXPIRED' })
  })

  it('evicts the oldest entry beyond maxCacheEntries', async () => {
    const { root, ca, leaf } = await meshChain()
    const other = await makeCert({ name: 'node-2', issuer: ca })
    const v = new ChainVerifier({ roots: [root.der], intermediates: [ca.der], maxCacheEntries: 1 })
    v.verify(T0, leaf.der)
    v.verify(T0, other.der)
    expect(v.cacheSize).to.equal(1)
  })
})
