import { expect } from 'aegir/chai'
import { derToPem } from '../../src/util/pem.ts'
import { deepNesting, ecKey, ed25519Key, ext, fakeRsaSpki, nodeSan, rawCsr, rsaKey, somePeerId } from './csr-fixtures.ts'
import { NOW, rejects, tempCa } from './helpers.ts'
import type { IssueRequest } from '../../src/ca/index.ts'

/**
 * Each bad input gets its own test: the exact error name and code, and proof that nothing was
 * issued or stored (certificate count and audit log length unchanged).
 */
describe('mesh CA: bad CSRs are refused and leave no trace', () => {
  let t: Awaited<ReturnType<typeof tempCa>>
  before(async () => { t = await tempCa() })
  after(async () => { await t.cleanup() })

  const peerId = somePeerId()
  const good = (): Uint8Array => rawCsr({ ...ecKey(), extensions: [nodeSan('node-1', peerId)] })
  const goodPem = (): string => derToPem(good(), 'CERTIFICATE REQUEST')

  async function expectRefused (csr: IssueRequest['csr'], name: string, code: string, extra: Partial<IssueRequest> = {}): Promise<void> {
    const certs = await t.ca.store.countCerts()
    const audit = (await t.ca.store.auditLog()).length
    const err = await rejects(t.ca.issue({ csr, now: NOW, ...extra }))
    expect(err, (err as Error).message).to.include({ name, code })
    expect(await t.ca.store.countCerts()).to.equal(certs)
    expect((await t.ca.store.auditLog()).length).to.equal(audit)
  }

  it('accepts the good CSR these tests start from', async () => {
    expect((await t.ca.issue({ csr: goodPem(), now: NOW })).nodeId).to.equal('node-1')
  })

  it('malformed PEM (bad base64) -> EncodingError MALFORMED_PEM', async () => {
    const pem = goodPem().replace(/\n([A-Za-z0-9+/]{10})/, '\n!!!!!!!!!!')
    await expectRefused(pem, 'EncodingError', 'MALFORMED_PEM')
  })

  it('truncated PEM (cut mid-body) -> EncodingError MALFORMED_PEM', async () => {
    const pem = goodPem()
    await expectRefused(pem.slice(0, Math.floor(pem.length / 2)), 'EncodingError', 'MALFORMED_PEM')
  })

  it('DER where PEM was expected -> EncodingError DER_WHERE_PEM_EXPECTED', async () => {
    await expectRefused(Buffer.from(good()).toString('latin1'), 'EncodingError', 'DER_WHERE_PEM_EXPECTED')
  })

  it('trailing garbage after the PEM block -> EncodingError MALFORMED_PEM', async () => {
    await expectRefused(goodPem() + 'garbage\n', 'EncodingError', 'MALFORMED_PEM')
  })

  it('trailing bytes after the DER -> EncodingError TRAILING_DATA', async () => {
    const der = good()
    await expectRefused(Uint8Array.from([...der, 0x00, 0x00]), 'EncodingError', 'TRAILING_DATA')
  })

  it('truncated DER -> EncodingError TRUNCATED_DER', async () => {
    const der = good()
    await expectRefused(der.subarray(0, der.length - 10), 'EncodingError', 'TRUNCATED_DER')
  })

  it('a CSR with a bad signature -> CsrRejectedError BAD_SIGNATURE', async () => {
    await expectRefused(rawCsr({ ...ecKey(), extensions: [nodeSan('node-1', peerId)], badSignature: true }), 'CsrRejectedError', 'BAD_SIGNATURE')
  })

  it('a CSR signed by another key than its own -> CsrRejectedError BAD_SIGNATURE', async () => {
    const other = ecKey()
    await expectRefused(rawCsr({ privateKey: other.privateKey, spki: ecKey().spki, extensions: [nodeSan('node-1', peerId)] }), 'CsrRejectedError', 'BAD_SIGNATURE')
  })

  it('a CSR asking for CA:true -> CsrRejectedError CA_REQUESTED', async () => {
    await expectRefused(rawCsr({ ...ecKey(), extensions: [nodeSan('node-1', peerId), ext.caTrue()] }), 'CsrRejectedError', 'CA_REQUESTED')
  })

  it('a CSR asking for keyCertSign -> CsrRejectedError CERT_SIGN_REQUESTED', async () => {
    await expectRefused(rawCsr({ ...ecKey(), extensions: [nodeSan('node-1', peerId), ext.keyCertSign()] }), 'CsrRejectedError', 'CERT_SIGN_REQUESTED')
  })

  it('a CSR asking for cRLSign -> CsrRejectedError CERT_SIGN_REQUESTED', async () => {
    await expectRefused(rawCsr({ ...ecKey(), extensions: [nodeSan('node-1', peerId), ext.crlSign()] }), 'CsrRejectedError', 'CERT_SIGN_REQUESTED')
  })

  it('a CSR with an extra SAN URI -> CsrRejectedError EXTRA_SAN', async () => {
    const san = ext.san(['urn:dadm:node:node-1', `urn:libp2p:peer:${peerId}`, 'https://evil.example/'])
    await expectRefused(rawCsr({ ...ecKey(), extensions: [san] }), 'CsrRejectedError', 'EXTRA_SAN')
  })

  it('a CSR with an extra DNS SAN -> CsrRejectedError EXTRA_SAN', async () => {
    const san = ext.san(['urn:dadm:node:node-1', `urn:libp2p:peer:${peerId}`], ['node-1.example'])
    await expectRefused(rawCsr({ ...ecKey(), extensions: [san] }), 'CsrRejectedError', 'EXTRA_SAN')
  })

  it('a CSR with two node URIs -> CsrRejectedError EXTRA_SAN', async () => {
    const san = ext.san(['urn:dadm:node:node-1', 'urn:dadm:node:node-2', `urn:libp2p:peer:${peerId}`])
    await expectRefused(rawCsr({ ...ecKey(), extensions: [san] }), 'CsrRejectedError', 'EXTRA_SAN')
  })

  it('a CSR without a PeerId URI -> CsrRejectedError MISSING_PEER_SAN', async () => {
    await expectRefused(rawCsr({ ...ecKey(), extensions: [ext.san(['urn:dadm:node:node-1'])] }), 'CsrRejectedError', 'MISSING_PEER_SAN')
  })

  it('a CSR without any SAN -> CsrRejectedError MISSING_NODE_SAN', async () => {
    await expectRefused(rawCsr(ecKey()), 'CsrRejectedError', 'MISSING_NODE_SAN')
  })

  it('a CSR with a malformed node_id -> CsrRejectedError INVALID_NODE_ID', async () => {
    await expectRefused(rawCsr({ ...ecKey(), extensions: [nodeSan('../etc', peerId)] }), 'CsrRejectedError', 'INVALID_NODE_ID')
  })

  it('a CSR with a PeerId that is not a PeerId -> CsrRejectedError INVALID_PEER_ID', async () => {
    await expectRefused(rawCsr({ ...ecKey(), extensions: [nodeSan('node-1', 'z'.repeat(40))] }), 'CsrRejectedError', 'INVALID_PEER_ID')
  })

  it('a weak key: P-192 -> CsrRejectedError UNSUPPORTED_KEY', async () => {
    await expectRefused(rawCsr({ ...ecKey('prime192v1'), extensions: [nodeSan('node-1', peerId)] }), 'CsrRejectedError', 'UNSUPPORTED_KEY')
  })

  it('a weak key: RSA-1024 -> CsrRejectedError WEAK_KEY', async () => {
    await expectRefused(rawCsr({ ...rsaKey(1024), extensions: [nodeSan('node-1', peerId)] }), 'CsrRejectedError', 'WEAK_KEY')
  })

  it('an RSA-16384 key is rejected quickly -> CsrRejectedError KEY_TOO_LARGE', async () => {
    // Signed by a P-256 key: the size check must fire before any signature work.
    const csr = rawCsr({ privateKey: ecKey().privateKey, spki: fakeRsaSpki(16384), extensions: [nodeSan('node-1', peerId)] })
    const start = performance.now()
    await expectRefused(csr, 'CsrRejectedError', 'KEY_TOO_LARGE')
    expect(performance.now() - start).to.be.below(250)
  })

  it('10,000-deep ASN.1 nesting as a CSR -> EncodingError NESTING_TOO_DEEP, quickly', async () => {
    const start = performance.now()
    await expectRefused(deepNesting(10_000), 'EncodingError', 'NESTING_TOO_DEEP')
    expect(performance.now() - start).to.be.below(250)
  })

  it('a CSR that is a DER element but not PKCS#10 -> CsrRejectedError MALFORMED_CSR', async () => {
    await expectRefused(deepNesting(3), 'CsrRejectedError', 'MALFORMED_CSR')
  })

  it('an Ed25519 CSR with a bad signature -> CsrRejectedError BAD_SIGNATURE', async () => {
    await expectRefused(rawCsr({ ...ed25519Key(), extensions: [nodeSan('node-1', peerId)], badSignature: true }), 'CsrRejectedError', 'BAD_SIGNATURE')
  })
})
