import { X509Certificate } from 'node:crypto'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { MeshCa } from '../../src/ca/index.ts'
import { parseCertificate } from '../../src/pki/certificate.ts'
import { parseCrl } from '../../src/pki/crl.ts'
import { EKU, EXT } from '../../src/pki/x509-extensions.ts'
import { pemToDerAll } from '../../src/util/pem.ts'
import { ecKey, ed25519Key, ext, nodeSan, rawCsr, somePeerId } from './csr-fixtures.ts'
import { NOW, PASS, rejects, tempCa } from './helpers.ts'

const HOUR = 3600_000

function nodeCsr (nodeId = 'node-1', peerId = somePeerId()): Uint8Array {
  return rawCsr({ ...ecKey(), extensions: [nodeSan(nodeId, peerId)] })
}

describe('mesh CA', () => {
  describe('init', () => {
    it('writes root.pem, ca-chain.pem (issuer first), ca.json with defaults, 0600 keys and the store', async () => {
      const { ca, dir, cleanup } = await tempCa()
      try {
        const [root] = pemToDerAll(await readFile(join(dir, 'root.pem'), 'utf8'), 'CERTIFICATE').map(parseCertificate)
        const chain = pemToDerAll(await readFile(join(dir, 'ca-chain.pem'), 'utf8'), 'CERTIFICATE').map(parseCertificate)
        expect(chain).to.have.length(2)
        expect(Buffer.from(chain[1].der).equals(Buffer.from(root.der))).to.equal(true)
        expect(root.basicConstraints).to.deep.equal({ ca: true, pathLen: 1 })
        expect(chain[0].basicConstraints).to.deep.equal({ ca: true, pathLen: 0 })
        expect([...chain[0].keyUsage ?? []].sort()).to.deep.equal(['cRLSign', 'keyCertSign'])
        expect(chain[0].issuer.key).to.equal(root.subject.key)
        const config = JSON.parse(await readFile(join(dir, 'ca.json'), 'utf8'))
        expect(config).to.include({ node_cert_validity_seconds: 86400, node_cert_max_validity_seconds: 604800, gossip_fanout: 6, crl_validity_seconds: 3600, key_algorithm: 'P-256', intermediate: true })
        expect(config.bootstrap_peers).to.deep.equal([])
        for (const k of ['root.key', 'issuing.key']) {
          expect((await stat(join(dir, 'keys', k))).mode & 0o777).to.equal(0o600)
        }
        expect(ca.chainPem).to.equal(await readFile(join(dir, 'ca-chain.pem'), 'utf8'))
      } finally {
        await cleanup()
      }
    })

    it('refuses to overwrite an existing CA (CA_EXISTS)', async () => {
      const { ca, dir, cleanup } = await tempCa()
      try {
        await ca.close()
        const before = await readFile(join(dir, 'root.pem'), 'utf8')
        const err = await rejects(MeshCa.init({ dir, passphrase: PASS, now: NOW }))
        expect(err).to.include({ name: 'IssuanceError', code: 'CA_EXISTS' })
        expect(await readFile(join(dir, 'root.pem'), 'utf8')).to.equal(before)
      } finally {
        await cleanup()
      }
    })

    it('refuses to create a CA without a passphrase (NO_PASSPHRASE)', async () => {
      const err = await rejects(MeshCa.init({ dir: '/nonexistent/never-created', passphrase: undefined, now: NOW }))
      expect(err).to.include({ name: 'KeyStoreError', code: 'NO_PASSPHRASE' })
    })

    it('makes an Ed25519 root-only CA whose root signs node certificates', async () => {
      const { ca, cleanup } = await tempCa({ keyAlgorithm: 'Ed25519', intermediate: false })
      try {
        expect(pemToDerAll(ca.chainPem, 'CERTIFICATE')).to.have.length(1)
        expect(ca.rootCertificate.basicConstraints).to.deep.equal({ ca: true, pathLen: 0 })
        const issued = await ca.issue({ csr: rawCsr({ ...ed25519Key(), extensions: [nodeSan('n-ed', somePeerId())] }), now: NOW })
        const leaf = new X509Certificate(issued.der)
        expect(leaf.verify(new X509Certificate(ca.rootCertificate.der).publicKey)).to.equal(true)
      } finally {
        await cleanup()
      }
    })
  })

  describe('issue', () => {
    let t: Awaited<ReturnType<typeof tempCa>>
    before(async () => { t = await tempCa({ intermediateValidityDays: 3 }) })
    after(async () => { await t.cleanup() })

    it('issues a v3 node certificate with the profile the mesh needs', async () => {
      const peerId = somePeerId()
      const issued = await t.ca.issue({ csr: nodeCsr('node-1', peerId), now: NOW })
      const cert = parseCertificate(issued.der)
      expect(cert.version).to.equal(3)
      expect(issued).to.include({ nodeId: 'node-1', peerId, serialHex: cert.serialHex, profile: 'node' })
      expect(cert.serial).to.have.length(16)
      expect(cert.serial[0]).to.be.within(0x10, 0x7f)
      expect(cert.subjectAltName?.uri).to.deep.equal(['urn:dadm:node:node-1', `urn:libp2p:peer:${peerId}`])
      expect(cert.extKeyUsage).to.deep.equal([EKU.CLIENT_AUTH, EKU.SERVER_AUTH])
      expect(cert.basicConstraints).to.deep.equal({ ca: false, pathLen: undefined })
      expect(cert.extensions.get(EXT.BASIC_CONSTRAINTS)?.critical).to.equal(true)
      expect([...cert.keyUsage ?? []]).to.deep.equal(['digitalSignature'])
      expect(cert.extensions.get(EXT.KEY_USAGE)?.critical).to.equal(true)
      expect(Buffer.from(cert.authorityKeyIdentifier?.keyIdentifier ?? []).equals(Buffer.from(t.ca.issuingCertificate.subjectKeyIdentifier ?? [1]))).to.equal(true)
      expect(cert.subjectKeyIdentifier).to.have.length(20)
      expect(cert.notBefore).to.equal(NOW.getTime())
      expect(cert.notAfter - cert.notBefore).to.equal(24 * HOUR)
      expect(issued.chainPem).to.equal(t.ca.chainPem)
      expect(new X509Certificate(issued.der).verify(new X509Certificate(t.ca.issuingCertificate.der).publicKey)).to.equal(true)
    })

    it('stores each certificate by serial and by node_id, with an audit entry', async () => {
      const before = (await t.ca.store.auditLog()).length
      const a = await t.ca.issue({ csr: nodeCsr('node-2'), now: NOW })
      const b = await t.ca.issue({ csr: nodeCsr('node-2'), now: NOW })
      expect((await t.ca.certificatesOf('node-2')).map(r => r.serialHex).sort()).to.deep.equal([a.serialHex, b.serialHex].sort())
      expect(await t.ca.getCertificate(a.serialHex)).to.include({ nodeId: 'node-2', profile: 'node' })
      const log = await t.ca.store.auditLog({ fromSeq: before })
      expect(log.map(e => e.action)).to.deep.equal(['issue', 'issue'])
      expect(log[0].fields).to.include({ serial: a.serialHex, node_id: 'node-2' })
    })

    it('takes a PEM CSR as well as DER', async () => {
      const { derToPem } = await import('../../src/util/pem.ts')
      const issued = await t.ca.issue({ csr: derToPem(nodeCsr('node-pem'), 'CERTIFICATE REQUEST'), now: NOW })
      expect(issued.nodeId).to.equal('node-pem')
    })

    it('honours a shorter validity, refuses one above 7 d, and never outlives the issuer', async () => {
      const short = await t.ca.issue({ csr: nodeCsr(), now: NOW, validitySeconds: 3600 })
      expect(short.notAfter - short.notBefore).to.equal(HOUR)
      const err = await rejects(t.ca.issue({ csr: nodeCsr(), now: NOW, validitySeconds: 7 * 24 * 3600 + 1 }))
      expect(err).to.include({ name: 'IssuanceError', code: 'VALIDITY_OUT_OF_RANGE' })
      // The intermediate lives 3 days: a 7-day request made 2 days in is clamped to its end.
      const late = new Date(NOW.getTime() + 48 * HOUR)
      const clamped = await t.ca.issue({ csr: nodeCsr(), now: late, validitySeconds: 7 * 24 * 3600 })
      expect(clamped.notAfter).to.equal(t.ca.issuingCertificate.notAfter)
      const expired = await rejects(t.ca.issue({ csr: nodeCsr(), now: new Date(NOW.getTime() + 4 * 24 * HOUR) }))
      expect(expired).to.include({ code: 'ISSUER_NOT_VALID' })
    })

    it('refuses a CSR for another node_id than required (NODE_ID_MISMATCH)', async () => {
      const count = await t.ca.store.countCerts()
      const err = await rejects(t.ca.issue({ csr: nodeCsr('node-x'), now: NOW, nodeId: 'node-y' }))
      expect(err).to.include({ name: 'CsrRejectedError', code: 'NODE_ID_MISMATCH' })
      expect(await t.ca.store.countCerts()).to.equal(count)
    })

    it('issues admin certificates (clientAuth only) and server certificates (serverAuth, DNS/IP SANs)', async () => {
      const admin = await t.ca.issue({ csr: rawCsr({ ...ecKey(), extensions: [ext.san(['urn:dadm:admin:alice'])] }), now: NOW, profile: 'admin' })
      const a = parseCertificate(admin.der)
      expect(a.subjectAltName?.uri).to.deep.equal(['urn:dadm:admin:alice'])
      expect(a.extKeyUsage).to.deep.equal([EKU.CLIENT_AUTH])
      const server = await t.ca.issue({ csr: rawCsr(ecKey()), now: NOW, profile: 'server', dnsNames: ['ca.mesh.local'], ipAddresses: ['127.0.0.1'] })
      const s = parseCertificate(server.der)
      expect(s.subjectAltName?.dns).to.deep.equal(['ca.mesh.local'])
      expect(s.subjectAltName?.ip).to.deep.equal(['127.0.0.1'])
      expect(s.extKeyUsage).to.deep.equal([EKU.SERVER_AUTH])
      const err = await rejects(t.ca.issue({ csr: rawCsr({ ...ecKey(), extensions: [ext.san([], ['evil.example'])] }), now: NOW, profile: 'server', dnsNames: ['ca.mesh.local'] }))
      expect(err).to.include({ code: 'EXTRA_SAN' })
    })
  })

  describe('revocation and CRLs', () => {
    let t: Awaited<ReturnType<typeof tempCa>>
    beforeEach(async () => { t = await tempCa() })
    afterEach(async () => { await t.cleanup() })

    it('revokes by serial; the CRL is v2, signed by the issuing CA, numbered, 1 h, with the reason', async () => {
      const issued = await t.ca.issue({ csr: nodeCsr(), now: NOW })
      expect(await t.ca.revoke({ serialHex: issued.serialHex, reason: 'keyCompromise', now: NOW })).to.deep.equal({ serials: [issued.serialHex], nodeId: 'node-1' })
      const info = await t.ca.buildCrl(NOW)
      const crl = parseCrl(info.der)
      expect(crl.version).to.equal(2)
      expect(crl.crlNumber).to.equal(1n)
      expect(crl.issuer.key).to.equal(t.ca.issuingCertificate.subject.key)
      expect(crl.thisUpdate).to.equal(NOW.getTime())
      expect(crl.nextUpdate).to.equal(NOW.getTime() + HOUR)
      expect(crl.revoked.get(issued.serialHex)).to.include({ reason: 'keyCompromise', revocationDate: NOW.getTime() })
      expect(Buffer.from(crl.authorityKeyIdentifier?.keyIdentifier ?? []).equals(Buffer.from(t.ca.issuingCertificate.subjectKeyIdentifier ?? [1]))).to.equal(true)
      const { createPublicKey, verify } = await import('node:crypto')
      const key = createPublicKey({ key: Buffer.from(t.ca.issuingCertificate.spki), format: 'der', type: 'spki' })
      expect(verify('sha256', crl.tbs, key, crl.signature)).to.equal(true)
      expect((await t.ca.buildCrl(NOW)).crlNumber).to.equal(2)
    })

    it('refuses to revoke an unknown serial (UNKNOWN_SERIAL) or with an unknown reason (BAD_REASON)', async () => {
      expect(await rejects(t.ca.revoke({ serialHex: '1234', now: NOW }))).to.include({ code: 'UNKNOWN_SERIAL' })
      const issued = await t.ca.issue({ csr: nodeCsr(), now: NOW })
      expect(await rejects(t.ca.revoke({ serialHex: issued.serialHex, reason: 'bored' as any, now: NOW }))).to.include({ code: 'BAD_REASON' })
    })

    it('revokes every certificate of a node_id and blocks it until an operator clears it', async () => {
      const a = await t.ca.issue({ csr: nodeCsr('node-r'), now: NOW })
      const b = await t.ca.issue({ csr: nodeCsr('node-r'), now: NOW })
      const other = await t.ca.issue({ csr: nodeCsr('node-s'), now: NOW })
      const { serials } = await t.ca.revokeNodeId({ nodeId: 'node-r', reason: 'cessationOfOperation', now: NOW })
      expect(serials.sort()).to.deep.equal([a.serialHex, b.serialHex].sort())
      expect(await t.ca.isNodeRevoked('node-r')).to.equal(true)
      const count = await t.ca.store.countCerts()
      expect(await rejects(t.ca.issue({ csr: nodeCsr('node-r'), now: NOW }))).to.include({ name: 'IssuanceError', code: 'NODE_REVOKED' })
      expect(await t.ca.store.countCerts()).to.equal(count)
      const crl = parseCrl((await t.ca.currentCrl(NOW)).der)
      expect([...crl.revoked.keys()].sort()).to.deep.equal([a.serialHex, b.serialHex].sort())
      expect(crl.revoked.has(other.serialHex)).to.equal(false)

      expect(await t.ca.clearNodeRevocation('node-r', NOW)).to.equal(true)
      expect(await t.ca.isNodeRevoked('node-r')).to.equal(false)
      await t.ca.issue({ csr: nodeCsr('node-r'), now: NOW })
      expect(parseCrl((await t.ca.currentCrl(NOW)).der).revoked.has(a.serialHex)).to.equal(true)
    })

    it('currentCrl reuses the latest CRL until revocations change or half its life has passed', async () => {
      const first = await t.ca.currentCrl(NOW)
      expect((await t.ca.currentCrl(new Date(NOW.getTime() + 10 * 60_000))).crlNumber).to.equal(first.crlNumber)
      const halfway = await t.ca.currentCrl(new Date(NOW.getTime() + 31 * 60_000))
      expect(halfway.crlNumber).to.equal(first.crlNumber + 1)
      const issued = await t.ca.issue({ csr: nodeCsr(), now: NOW })
      await t.ca.revoke({ serialHex: issued.serialHex, now: NOW })
      const after = await t.ca.currentCrl(new Date(NOW.getTime() + 32 * 60_000))
      expect(after.crlNumber).to.equal(halfway.crlNumber + 1)
      expect(parseCrl(after.der).revoked.has(issued.serialHex)).to.equal(true)
    })

    it('drops revoked certificates from the CRL once they have expired', async () => {
      const short = await t.ca.issue({ csr: nodeCsr(), now: NOW, validitySeconds: 3600 })
      const long = await t.ca.issue({ csr: nodeCsr(), now: NOW })
      await t.ca.revoke({ serialHex: short.serialHex, now: NOW })
      await t.ca.revoke({ serialHex: long.serialHex, now: NOW })
      expect([...parseCrl((await t.ca.buildCrl(NOW)).der).revoked.keys()].sort()).to.deep.equal([short.serialHex, long.serialHex].sort())
      const later = parseCrl((await t.ca.buildCrl(new Date(NOW.getTime() + 2 * HOUR))).der)
      expect([...later.revoked.keys()]).to.deep.equal([long.serialHex])
    })

    it('signs a root CRL that lists revoked intermediates only', async () => {
      const leaf = await t.ca.issue({ csr: nodeCsr(), now: NOW })
      await t.ca.revoke({ serialHex: leaf.serialHex, now: NOW })
      await t.ca.revoke({ serialHex: t.ca.issuingCertificate.serialHex, reason: 'cACompromise', now: NOW })
      const crl = parseCrl((await t.ca.buildCrl(NOW, 'root')).der)
      expect(crl.issuer.key).to.equal(t.ca.rootCertificate.subject.key)
      expect([...crl.revoked.keys()]).to.deep.equal([t.ca.issuingCertificate.serialHex])
      expect(crl.nextUpdate).to.equal(NOW.getTime() + 30 * 24 * HOUR)
    })
  })

  describe('restart', () => {
    it('keeps serials, certificates, revocations, node blocks and the CRL number across close and reopen', async () => {
      const { ca, dir, cleanup } = await tempCa()
      try {
        const a = await ca.issue({ csr: nodeCsr('node-p'), now: NOW })
        await ca.revokeNodeId({ nodeId: 'node-p', now: NOW })
        const crl1 = await ca.buildCrl(NOW)
        const count = await ca.store.countCerts()
        await ca.close()
        expect(await rejects(ca.issue({ csr: nodeCsr(), now: NOW }))).to.include({ code: 'CA_CLOSED' })

        const again = await MeshCa.open({ dir, passphrase: PASS })
        try {
          expect(await again.store.countCerts()).to.equal(count)
          expect(await again.getCertificate(a.serialHex)).to.include({ nodeId: 'node-p' })
          expect(await again.store.getRevocation(a.serialHex)).to.include({ reason: 'unspecified' })
          expect(await again.isNodeRevoked('node-p')).to.equal(true)
          const crl2 = await again.buildCrl(NOW)
          expect(crl2.crlNumber).to.equal(crl1.crlNumber + 1)
          expect(parseCrl(crl2.der).revoked.has(a.serialHex)).to.equal(true)
          expect(again.rootPem).to.equal(ca.rootPem)
        } finally {
          await again.close()
        }
      } finally {
        await cleanup()
      }
    })

    it('refuses to open with a wrong passphrase (WRONG_PASSPHRASE) or none (NO_PASSPHRASE)', async () => {
      const { ca, dir, cleanup } = await tempCa()
      try {
        await ca.close()
        expect(await rejects(MeshCa.open({ dir, passphrase: 'nope' }))).to.include({ name: 'KeyStoreError', code: 'WRONG_PASSPHRASE' })
        expect(await rejects(MeshCa.open({ dir, passphrase: undefined }))).to.include({ code: 'NO_PASSPHRASE' })
        expect(await rejects(MeshCa.open({ dir: join(dir, 'nothing'), passphrase: PASS }))).to.include({ code: 'CA_NOT_FOUND' })
      } finally {
        await cleanup()
      }
    })
  })
})
