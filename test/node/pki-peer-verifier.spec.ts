import 'reflect-metadata'
import { createHash } from 'node:crypto'
import * as x509 from '@peculiar/x509'
import { expect } from 'aegir/chai'
import { peerVerifierFromChainVerifier, PkiPeerVerifier } from '../../src/node/index.ts'
import { ChainVerifier } from '../../src/pki/chain-verifier.ts'
import { encodeRoles, ROLES_OID } from '../../src/pki/roles-extension.ts'
import { verifyChain } from '../../src/pki/verify-chain.ts'
import { meshChain, T0 } from '../pki/fixtures.ts'
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

  it('refuses a leaf whose roles extension is malformed (NOT_NODE_CERTIFICATE / MALFORMED_EXTENSION) or critical (CHAIN_INVALID / UNKNOWN_CRITICAL_EXTENSION)', async () => {
    // Chains from a hand-made CA: the mesh CA would never sign these extensions.
    const unsorted = Uint8Array.from(Buffer.from('300a0c0572656c61790c0161', 'hex')) // SEQUENCE { "relay", "a" }
    const cases: Array<[x509.Extension, { code: string, chainCode: string }]> = [
      [new x509.Extension(ROLES_OID, false, unsorted), { code: 'NOT_NODE_CERTIFICATE', chainCode: 'MALFORMED_EXTENSION' }],
      // Path validation refuses a critical extension it does not process before the roles are read (RFC 5280 §4.2).
      [new x509.Extension(ROLES_OID, true, Uint8Array.from(encodeRoles(['ops']))), { code: 'CHAIN_INVALID', chainCode: 'UNKNOWN_CRITICAL_EXTENSION' }]
    ]
    for (const [ext, expected] of cases) {
      const { root, ca, leaf } = await meshChain({ extra: [ext] })
      const verifier = new PkiPeerVerifier({ roots: () => [root.der] })
      expect(await refusal(verifier.verify(T0, [leaf.der, ca.der]))).to.deep.equal({ name: 'PeerCertificateError', ...expected })
    }
    // The same hand-made chain with a well-formed extension passes, with its roles.
    const { root, ca, leaf } = await meshChain({ extra: [new x509.Extension(ROLES_OID, false, Uint8Array.from(encodeRoles(['ops'])))] })
    expect((await new PkiPeerVerifier({ roots: () => [root.der] }).verify(T0, [leaf.der, ca.der])).roles).to.deep.equal(['ops'])
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
