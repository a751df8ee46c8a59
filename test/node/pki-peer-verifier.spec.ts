import { createHash } from 'node:crypto'
import { expect } from 'aegir/chai'
import { peerVerifierFromChainVerifier, PkiPeerVerifier } from '../../src/node/index.ts'
import { ChainVerifier } from '../../src/pki/chain-verifier.ts'
import { verifyChain } from '../../src/pki/verify-chain.ts'
import { createTestCa, enroll, NOW, revoke, verifierFor } from './fixtures.ts'
import type { TestCa } from './fixtures.ts'

async function refusal (p: Promise<unknown>): Promise<{ name: string, code: string, chainCode?: string }> {
  try {
    await p
  } catch (err: any) {
    return { name: err.name, code: err.code, chainCode: err.chainCode }
  }
  throw new Error('expected a refusal')
}

describe('PkiPeerVerifier (verifyChain + nodeIdentity)', () => {
  let tca: TestCa
  let other: TestCa

  before(async () => {
    tca = await createTestCa('pki')
    other = await createTestCa('pki-other')
  })

  after(async () => {
    await tca.close()
    await other.close()
  })

  it('returns the identity of a valid node certificate', async () => {
    const node = await enroll(tca, 'pki-node')
    const id = await verifierFor(tca).verify(new Date(NOW), node.chain)
    expect(id).to.include({ nodeId: 'pki-node', peerId: node.peerId.toString(), serialHex: node.serialHex })
    expect(id.fingerprint).to.equal(createHash('sha256').update(node.chain[0]).digest('hex'))
    expect(id.issuerFingerprint).to.equal(createHash('sha256').update(node.chain[1]).digest('hex'))
    expect(Buffer.from(id.spki).equals(Buffer.from(node.identity.publicKeySpki))).to.equal(true)
    expect(id.notAfter).to.be.greaterThan(NOW)
  })

  it('carries the roles of the certificate (sorted), and none for a certificate without them', async () => {
    const withRoles = await enroll(tca, 'pki-roles', { roles: ['relay', 'gateway'] })
    expect((await verifierFor(tca).verify(new Date(NOW), withRoles.chain)).roles).to.deep.equal(['gateway', 'relay'])
    const without = await enroll(tca, 'pki-no-roles')
    expect((await verifierFor(tca).verify(new Date(NOW), without.chain)).roles).to.deep.equal([])
  })

  it('refuses an empty chain (NO_CERTIFICATE)', async () => {
    expect(await refusal(verifierFor(tca).verify(new Date(NOW), []))).to.deep.equal({ name: 'PeerCertificateError', code: 'NO_CERTIFICATE', chainCode: undefined })
  })

  it('refuses a certificate of another CA (CHAIN_INVALID / UNKNOWN_ISSUER)', async () => {
    const stranger = await enroll(other, 'pki-stranger')
    expect(await refusal(verifierFor(tca).verify(new Date(NOW), stranger.chain))).to.include({ code: 'CHAIN_INVALID', chainCode: 'UNKNOWN_ISSUER' })
  })

  it('refuses an expired certificate (CHAIN_INVALID / EXPIRED)', async () => {
    const stale = await enroll(tca, 'pki-stale', { issuedAt: NOW - 2 * 24 * 3600_000, validitySeconds: 3600 })
    expect(await refusal(verifierFor(tca).verify(new Date(NOW), stale.chain))).to.include({ code: 'CHAIN_INVALID', chainCode: 'EXPIRED' })
  })

  it('refuses a revoked certificate (REVOKED)', async () => {
    const fired = await enroll(tca, 'pki-fired')
    await revoke(tca, fired.serialHex)
    try {
      expect(await refusal(verifierFor(tca).verify(new Date(NOW), fired.chain))).to.include({ code: 'REVOKED' })
    } finally {
      tca.crls = []
    }
  })

  it('refuses bytes that are not a certificate (CHAIN_INVALID / MALFORMED_CERTIFICATE)', async () => {
    expect(await refusal(verifierFor(tca).verify(new Date(NOW), [Uint8Array.from([0x30, 0x03, 0x02, 0x01, 0x01])]))).to.include({ code: 'CHAIN_INVALID', chainCode: 'MALFORMED_CERTIFICATE' })
  })

  it('uses an injected validator (the seam for a caching ChainVerifier)', async () => {
    const node = await enroll(tca, 'pki-cached')
    let calls = 0
    const verifier = new PkiPeerVerifier({
      roots: () => [],
      validate: (now, leaf, intermediates) => {
        calls++
        return verifyChain(now, leaf, intermediates, [tca.root], [])
      }
    })
    expect((await verifier.verify(new Date(NOW), node.chain)).nodeId).to.equal('pki-cached')
    expect(calls).to.equal(1)
  })

  it('runs on the caching ChainVerifier, whose installed CRLs revoke (REVOKED)', async () => {
    const node = await enroll(tca, 'pki-cv')
    const cv = new ChainVerifier({ roots: [tca.root], intermediates: node.chain.slice(1) })
    const verifier = peerVerifierFromChainVerifier(cv)
    expect((await verifier.verify(new Date(NOW), node.chain)).nodeId).to.equal('pki-cv')
    await tca.ca.revoke({ serialHex: node.serialHex, now: new Date(NOW - 60_000) })
    cv.installCrl((await tca.ca.buildCrl(new Date(NOW - 30_000))).der, new Date(NOW))
    expect(await refusal(verifier.verify(new Date(NOW), node.chain))).to.include({ code: 'REVOKED' })
  })
})
