import { expect } from 'aegir/chai'
import { encode } from 'cborg'
import { createNotice, decodeNotice, encodeNotice, MAX_NOTICE_BYTES, NOTICE_MAX_TTL_MS, signedBytes, verifyNotice } from '../../../protocols/rotate-now/index.ts'
import { parseCertificate } from '../../../src/pki/certificate.ts'
import { createTestCa, NOW } from '../../node/fixtures.ts'
import type { NoticeTrust } from '../../../protocols/rotate-now/index.ts'
import type { TestCa } from '../../node/fixtures.ts'

const HOUR = 3600_000

/** Asserts that `fn` throws a NoticeError with `code`. */
function refused (fn: () => unknown, code: string): void {
  let err: any
  try { fn() } catch (e) { err = e }
  expect(err, `expected ${code}`).to.include({ name: 'NoticeError', code })
}

describe('rotate-now notices: codec and verification', function () {
  let tca: TestCa
  let other: TestCa
  let trust: NoticeTrust

  before(async () => {
    tca = await createTestCa('notice')
    other = await createTestCa('notice-other')
    trust = { roots: [tca.ca.rootCertificate], intermediates: [tca.ca.issuingCertificate] }
  })
  after(async () => {
    await tca.close()
    await other.close()
  })

  const rotateNow = async (ca: TestCa, body: { targets?: string[], iat?: number, exp?: number } = {}, signer: 'issuing' | 'root' = 'issuing'): Promise<Uint8Array> =>
    createNotice({ kind: 'rotate-now', seq: await ca.ca.nextNoticeSequence(new Date(NOW)), iat: body.iat ?? NOW, exp: body.exp ?? NOW + HOUR, ...(body.targets != null ? { targets: body.targets } : {}) }, async d => ca.ca.signNotice(d, signer))

  it('round-trips a rotate-now signed by the issuing CA and verifies it against the trusted root', async () => {
    const bytes = await rotateNow(tca, { targets: ['node-a', 'node-b'] })
    const decoded = decodeNotice(bytes)
    expect(decoded.notice).to.deep.include({ kind: 'rotate-now', targets: ['node-a', 'node-b'], iat: NOW, exp: NOW + HOUR })
    const v = verifyNotice(NOW, decoded, trust)
    expect(v.signer.fingerprint).to.equal(tca.ca.issuingCertificate.fingerprint)
  })

  it('sequence numbers only rise and are at least the clock (a successor CA continues above)', async () => {
    const a = decodeNotice(await rotateNow(tca)).notice.seq
    const b = decodeNotice(await rotateNow(tca)).notice.seq
    expect(a).to.be.at.least(NOW)
    expect(b).to.be.greaterThan(a)
  })

  it('refuses a notice signed by another CA (UNTRUSTED_SIGNER): a forgery changes nothing', async () => {
    const forged = await rotateNow(other)
    refused(() => verifyNotice(NOW, decodeNotice(forged), trust), 'UNTRUSTED_SIGNER')
  })

  it('refuses a notice whose signature was made by another key over the same body (BAD_SIGNATURE)', async () => {
    const real = decodeNotice(await rotateNow(tca))
    const forged = await other.ca.signNotice(signedBytes(real.body), 'issuing')
    // The CA's own certificate as signer, another key's signature: a forgery that names the real signer.
    refused(() => verifyNotice(NOW, decodeNotice(encodeNotice({ v: 1, body: real.body, sig: forged.signature, signer: real.signer })), trust), 'BAD_SIGNATURE')
  })

  it('refuses a body changed after signing (BAD_SIGNATURE)', async () => {
    const real = decodeNotice(await rotateNow(tca, { targets: ['node-a'] }))
    const body = encode({ v: 1, kind: 'rotate-now', seq: real.notice.seq, iat: NOW, exp: NOW + HOUR })
    refused(() => verifyNotice(NOW, decodeNotice(encodeNotice({ v: 1, body, sig: real.sig, signer: real.signer })), trust), 'BAD_SIGNATURE')
  })

  it('a trust bundle must be signed by a trusted root itself (NOT_ROOT_SIGNED), and is accepted when it is', async () => {
    const body = { kind: 'trust-bundle' as const, seq: await tca.ca.nextNoticeSequence(new Date(NOW)), iat: NOW, exp: NOW + HOUR, roots: [tca.root, other.root], cas: [other.ca.issuingCertificate.der] }
    const byIssuing = await createNotice(body, async d => tca.ca.signNotice(d, 'issuing'))
    refused(() => verifyNotice(NOW, decodeNotice(byIssuing), trust), 'NOT_ROOT_SIGNED')
    const v = verifyNotice(NOW, decodeNotice(await createNotice(body, async d => tca.ca.signNotice(d, 'root'))), trust)
    expect(v.bundle?.roots.map(r => r.fingerprint)).to.deep.equal([tca.ca.rootCertificate.fingerprint, other.ca.rootCertificate.fingerprint])
    expect(v.bundle?.cas.map(c => c.fingerprint)).to.deep.equal([other.ca.issuingCertificate.fingerprint])
    // Another CA's root cannot move this node's trust.
    const byOtherRoot = await createNotice(body, async d => other.ca.signNotice(d, 'root'))
    refused(() => verifyNotice(NOW, decodeNotice(byOtherRoot), trust), 'NOT_ROOT_SIGNED')
  })

  it('time: expired is ignored, issued in the future beyond the skew is ignored, a lifetime over a week is rejected', async () => {
    const genuine = decodeNotice(await rotateNow(tca))
    refused(() => verifyNotice(NOW + 2 * HOUR, genuine, trust), 'EXPIRED')
    expect(verifyNotice(NOW + HOUR, genuine, trust).notice.kind).to.equal('rotate-now')
    const future = await rotateNow(tca, { iat: NOW + HOUR, exp: NOW + 2 * HOUR })
    refused(() => verifyNotice(NOW, decodeNotice(future), trust), 'NOT_YET_VALID')
    const long = await rotateNow(tca, { exp: NOW + NOTICE_MAX_TTL_MS + 1 })
    refused(() => verifyNotice(NOW, decodeNotice(long), trust), 'LIFETIME_TOO_LONG')
  })

  it('the codec refuses what it must: oversized, wrong shape, unknown fields, bad targets, certificates in a rotate-now', async () => {
    refused(() => decodeNotice(new Uint8Array(MAX_NOTICE_BYTES + 1)), 'TOO_LARGE')
    refused(() => decodeNotice(encode([1, 2, 3])), 'MALFORMED')
    const real = decodeNotice(await rotateNow(tca))
    refused(() => decodeNotice(encode({ v: 1, body: real.body, sig: real.sig, signer: real.signer, extra: 1 })), 'MALFORMED')
    refused(() => decodeNotice(encode({ v: 2, body: real.body, sig: real.sig, signer: real.signer })), 'UNSUPPORTED_VERSION')
    const bad = (body: Record<string, unknown>): Uint8Array => encode({ v: 1, body: encode(body), sig: real.sig, signer: real.signer })
    refused(() => decodeNotice(bad({ v: 1, kind: 'rotate-now', seq: 1, iat: NOW, exp: NOW + HOUR, targets: ['../etc'] })), 'MALFORMED')
    refused(() => decodeNotice(bad({ v: 1, kind: 'rotate-now', seq: 1, iat: NOW, exp: NOW + HOUR, roots: [tca.root] })), 'MALFORMED')
    refused(() => decodeNotice(bad({ v: 1, kind: 'reboot', seq: 1, iat: NOW, exp: NOW + HOUR })), 'MALFORMED')
    refused(() => decodeNotice(bad({ v: 1, kind: 'rotate-now', seq: 1, iat: NOW, exp: NOW - 1 })), 'MALFORMED')
    refused(() => decodeNotice(bad({ v: 1, kind: 'trust-bundle', seq: 1, iat: NOW, exp: NOW + HOUR })), 'MALFORMED')
    // A bundle whose root is no self-signed CA is refused by the verifier.
    const leafAsRoot = await createNotice({ kind: 'trust-bundle', seq: 1, iat: NOW, exp: NOW + HOUR, roots: [tca.ca.issuingCertificate.der] }, async d => tca.ca.signNotice(d, 'root'))
    refused(() => verifyNotice(NOW, decodeNotice(leafAsRoot), trust), 'MALFORMED')
    expect(parseCertificate(tca.root).fingerprint).to.equal(tca.ca.rootCertificate.fingerprint)
  })
})
