import 'reflect-metadata'
import { webcrypto } from 'node:crypto'
import * as x509 from '@peculiar/x509'
import { expect } from 'aegir/chai'
import { isValidNodeId, nodeIdentity, parseCertificate } from '../../src/pki/certificate.ts'
import { EKU_CLIENT, EKU_SERVER, makeCert, meshChain, T0, thrown } from './fixtures.ts'

const PEER = '12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf'

describe('certificate: X.509 model', () => {
  it('parses the fields the validator needs', async () => {
    const { ca, leaf } = await meshChain({ serial: '00ff01' })
    const c = parseCertificate(leaf.der)
    expect(c.version).to.equal(3)
    expect(c.serialHex).to.equal('ff01')
    expect(c.subject.text).to.equal('CN=node-1')
    expect(c.issuer.text).to.equal('CN=Mesh Issuing CA')
    expect(c.notBefore).to.be.below(T0.getTime())
    expect(c.basicConstraints).to.equal(undefined)
    expect([...(c.keyUsage ?? [])]).to.deep.equal(['digitalSignature'])
    expect(c.extKeyUsage).to.deep.equal([EKU_CLIENT, EKU_SERVER])
    expect(c.subjectAltName?.uri).to.deep.equal(['urn:dadm:node:node-1', `urn:libp2p:peer:${PEER}`])
    expect(Buffer.from(c.authorityKeyIdentifier?.keyIdentifier ?? []).toString('hex')).to.equal(ca.ski)
    expect(Buffer.from(c.subjectKeyIdentifier ?? []).toString('hex')).to.equal(leaf.ski)
    expect(c.fingerprint).to.match(/^[0-9a-f]{64}$/)
    expect(c.publicKey().kind).to.equal('ec')
    expect(c.tbsSignatureAlgorithm.oid).to.equal('1.2.840.10045.4.3.2')
    const caCert = parseCertificate(ca.der)
    expect(caCert.basicConstraints).to.deep.equal({ ca: true, pathLen: 0 })
    expect(caCert.selfIssued).to.equal(false)
  })

  it('refuses duplicate extensions (DUPLICATE_EXTENSION)', async () => {
    const dup = new x509.ExtendedKeyUsageExtension([EKU_CLIENT])
    const { der } = await makeCert({ name: 'dup', extra: [dup] })
    expect(thrown(() => parseCertificate(der))).to.include({ name: 'X509FormatError', code: 'DUPLICATE_EXTENSION' })
  })

  it('compares names per RFC 5280 7.1: case and spacing do not matter, string type does not matter', async () => {
    const a = await x509.X509CertificateGenerator.createSelfSigned({ name: 'CN=Mesh  Root,O=Example', keys: (await makeCert({ name: 'k' })).keys }, webcrypto as unknown as Crypto)
    const b = await x509.X509CertificateGenerator.createSelfSigned({ name: 'CN=mesh root,O=EXAMPLE', keys: (await makeCert({ name: 'k' })).keys }, webcrypto as unknown as Crypto)
    expect(parseCertificate(new Uint8Array(a.rawData)).subject.key).to.equal(parseCertificate(new Uint8Array(b.rawData)).subject.key)
  })

  describe('nodeIdentity', () => {
    it('returns the node_id and PeerId from the SAN URIs', async () => {
      const { leaf } = await meshChain()
      expect(nodeIdentity(parseCertificate(leaf.der))).to.deep.equal({ nodeId: 'node-1', peerId: PEER })
    })

    it('refuses a certificate without, or with two, node URIs', async () => {
      const none = await makeCert({ name: 'n', uris: [`urn:libp2p:peer:${PEER}`] })
      expect(thrown(() => nodeIdentity(parseCertificate(none.der)))).to.include({ name: 'NodeIdentityError', code: 'MISSING_NODE_ID' })
      const two = await makeCert({ name: 'n', uris: ['urn:dadm:node:a', 'urn:dadm:node:b'] })
      expect(thrown(() => nodeIdentity(parseCertificate(two.der)))).to.include({ code: 'MULTIPLE_NODE_IDS' })
      const badPeer = await makeCert({ name: 'n', uris: ['urn:dadm:node:a', 'urn:libp2p:peer:0OIl'] })
      expect(thrown(() => nodeIdentity(parseCertificate(badPeer.der)))).to.include({ code: 'INVALID_PEER_ID' })
    })

    it('validates node_id syntax', () => {
      for (const ok of ['a', 'node-1', 'edge_07.east', 'A'.repeat(64), '-x']) { expect(isValidNodeId(ok), ok).to.equal(true) }
      for (const bad of ['', '.hidden', 'a/b', 'a b', 'é', 'A'.repeat(65), '..', 'x:y']) { expect(isValidNodeId(bad), bad).to.equal(false) }
    })
  })
})
