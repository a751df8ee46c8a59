import { expect } from 'aegir/chai'
import { parseCertificate } from '../../../src/pki/certificate.ts'
import { checkSessionCertificate, issueSessionCredential, PROXY_CERT_INFO_OID } from '../../../src/pki/session-cert.ts'
import { verifyChain } from '../../../src/pki/verify-chain.ts'
import { pemToDerAll } from '../../../src/util/pem.ts'
import { NOW, createTestCa, enroll } from '../../node/fixtures.ts'
import type { Enrolled, TestCa } from '../../node/fixtures.ts'

/**
 * API session certificates: short-lived, proxy-shaped certificates a node's identity key signs for
 * an in-memory TLS key, good for its admin API and refused by every ordinary path validation.
 */
describe('API session certificates', function () {
  let tca: TestCa
  let p256: Enrolled
  let ed: Enrolled

  before(async () => {
    tca = await createTestCa('session')
    p256 = await enroll(tca, 'node-p256')
    ed = await enroll(tca, 'node-ed', { algorithm: 'Ed25519' })
  })
  after(async () => { await tca.close() })

  const issue = async (e: Enrolled, now = NOW, validityMs = 300_000, chain = e.chain): Promise<Uint8Array[]> => {
    const cred = await issueSessionCredential({ signer: e.identity.signer(), nodeChain: chain, now: new Date(now), validityMs })
    return pemToDerAll(cred.certPem, 'CERTIFICATE')
  }

  async function checksOut (e: Enrolled): Promise<void> {
    const chain = await issue(e)
    expect(chain.slice(1)).to.deep.equal(e.chain)
    const { session, node } = checkSessionCertificate(chain, NOW)
    expect(node.serialHex).to.equal(e.serialHex)
    expect(session.extensions.get(PROXY_CERT_INFO_OID)?.critical).to.equal(true)
    expect(session.subjectAltName).to.equal(undefined)
    expect(session.notAfter - NOW).to.equal(300_000)
  }

  it('a P-256 identity key signs one; it checks out and names the node certificate', async () => { await checksOut(p256) })
  it('an Ed25519 identity key signs one; it checks out and names the node certificate', async () => { await checksOut(ed) })

  it('is never accepted as an ordinary mesh certificate (unknown critical extension)', async () => {
    const chain = await issue(p256)
    const err = (() => { try { verifyChain(new Date(NOW), chain[0], chain.slice(1), [tca.root], [], {}) } catch (e) { return e } })()
    expect(err).to.have.property('name', 'ChainValidationError')
  })

  it('does not outlive the node certificate, and is refused once it has expired', async () => {
    const chain = await issue(p256, NOW, 30 * 24 * 3600_000)
    expect(parseCertificate(chain[0]).notAfter).to.equal(parseCertificate(p256.chain[0]).notAfter)
    // Once the node certificate has expired, no session can be signed with it.
    const after = parseCertificate(p256.chain[0]).notAfter + 1000
    await expect(issue(p256, after)).to.eventually.be.rejected.with.property('code', 'EXPIRED')
  })

  it('refuses: a flipped signature bit (BAD_SIGNATURE), another key (BAD_SIGNATURE), a plain node certificate, a lone session, another node as issuer, and the wrong time', async () => {
    const chain = await issue(p256)
    const code = (c: Uint8Array[], t = NOW): string | undefined => { try { checkSessionCertificate(c, t); return undefined } catch (e: any) { return `${String(e.name)}:${String(e.code)}` } }
    const flipped = Uint8Array.from(chain[0])
    flipped[flipped.length - 3] ^= 0x01
    expect(code([flipped, ...chain.slice(1)])).to.equal('SessionCertError:BAD_SIGNATURE')
    const byOtherKey = await issueSessionCredential({ signer: ed.identity.signer(), nodeChain: p256.chain, now: new Date(NOW), validityMs: 300_000 })
    expect(code(pemToDerAll(byOtherKey.certPem, 'CERTIFICATE'))).to.equal('SessionCertError:BAD_SIGNATURE')
    expect(code(p256.chain)).to.equal('SessionCertError:NOT_SESSION_CERTIFICATE')
    expect(code(chain.slice(0, 1))).to.equal('SessionCertError:NO_ISSUER')
    expect(code([chain[0], ...ed.chain])).to.equal('SessionCertError:NAME_MISMATCH')
    expect(code(chain, NOW + 301_000)).to.equal('SessionCertError:EXPIRED')
    expect(code(chain, NOW - 120_000)).to.equal('SessionCertError:EXPIRED')
    expect(code(chain)).to.equal(undefined)
  })
})
