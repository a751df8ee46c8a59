import { expect } from 'aegir/chai'
import { encode } from 'cborg'
import { encodeCrlMessage } from '../../../protocols/crl-gossip/codec.ts'
import { DEFAULT_MAX_SKEW_MS, MAX_CRL_MESSAGE_BYTES } from '../../../protocols/crl-gossip/constants.ts'
import { validateCrlMessage } from '../../../protocols/crl-gossip/validate.ts'
import { signCrl } from '../../../src/ca/crl-encode.ts'
import { generatePkcs8, softwareKeyFromPkcs8 } from '../../../src/identity/software-key.ts'
import { parseCertificate } from '../../../src/pki/certificate.ts'
import { keyIdentifier } from '../../../src/pki/x509-build.ts'
import { createGossipPki, HOUR, MINUTE, NOW, verifierFor } from '../anomaly-gossip/fixtures.ts'
import type { CrlValidationContext, CrlVerdict } from '../../../protocols/crl-gossip/validate.ts'
import type { ChainVerifier } from '../../../src/pki/chain-verifier.ts'
import type { GossipPki } from '../anomaly-gossip/fixtures.ts'

const RELAY = '12D3KooWRelayPeerIdTextForTheTestsOnly111111111'

function ctx (verifier: ChainVerifier, extra: Partial<CrlValidationContext> = {}): CrlValidationContext {
  return { authority: verifier, maxSkewMs: DEFAULT_MAX_SKEW_MS, ...extra }
}

function expectRefused (v: CrlVerdict, action: 'reject' | 'ignore', code: string): void {
  expect(v.action, `verdict ${JSON.stringify(v.action === 'accept' ? 'accept' : v)}`).to.equal(action)
  if (v.action !== 'accept') { expect(v.code).to.equal(code) }
}

describe('crl gossip: validateCrlMessage', function () {
  let pki: GossipPki
  let crl1: Uint8Array
  let crl2: Uint8Array
  let verifier: ChainVerifier

  before(async () => {
    pki = await createGossipPki()
    // CRL 1 revokes nothing; then r is revoked and CRL 2 lists it. Both valid 1 h.
    crl1 = (await pki.ca.ca.buildCrl(new Date(NOW - 20 * MINUTE))).der
    await pki.ca.ca.revoke({ serialHex: pki.r.serialHex, now: new Date(NOW - 15 * MINUTE) })
    crl2 = (await pki.ca.ca.buildCrl(new Date(NOW - 10 * MINUTE))).der
  })
  after(async () => { await pki?.close() })
  beforeEach(() => { verifier = verifierFor(pki.ca) })

  it('accepts the first CA-signed CRL of an issuer', () => {
    const v = validateCrlMessage(NOW, { messageBytes: encodeCrlMessage(crl1), from: RELAY }, ctx(verifier))
    expect(v.action).to.equal('accept')
    if (v.action === 'accept') {
      expect(v.crl.crlNumber).to.equal(1n)
      expect(v.previousNumber).to.equal(undefined)
    }
  })

  it('accepts a CRL whose number is above the one held, and names the held one', () => {
    verifier.installCrl(crl1, new Date(NOW))
    const v = validateCrlMessage(NOW, { messageBytes: encodeCrlMessage(crl2), from: RELAY }, ctx(verifier))
    expect(v.action).to.equal('accept')
    if (v.action === 'accept') {
      expect(v.crl.crlNumber).to.equal(2n)
      expect(v.previousNumber).to.equal(1n)
      expect([...v.crl.revoked.keys()]).to.deep.equal([pki.r.serialHex])
    }
  })

  it('ignores a stale CRL (older number after newer): it changes nothing (NOT_NEWER)', () => {
    verifier.installCrl(crl2, new Date(NOW))
    const rCert = parseCertificate(pki.r.chain[0])
    expect(verifier.isRevoked(rCert)).to.equal(true)
    expectRefused(validateCrlMessage(NOW, { messageBytes: encodeCrlMessage(crl1), from: RELAY }, ctx(verifier)), 'ignore', 'NOT_NEWER')
    // The same number again is no news either.
    expectRefused(validateCrlMessage(NOW, { messageBytes: encodeCrlMessage(crl2), from: RELAY }, ctx(verifier)), 'ignore', 'NOT_NEWER')
    expect(verifier.crlNumber(rCert.issuer.key)).to.equal(2n)
    expect(verifier.isRevoked(rCert)).to.equal(true)
  })

  it('rejects a CRL not signed by the CA: our CA\'s name and key id, another key (BAD_SIGNATURE)', async () => {
    const issuing = parseCertificate(pki.ca.ca.issuingCertificate.der)
    const forger = await softwareKeyFromPkcs8('forger', 'P-256', await generatePkcs8('P-256'), false)
    // A forged CRL 1000 that lists nothing: if accepted it would un-revoke r.
    const forged = await signCrl({
      issuerName: issuing.subject.der,
      issuerKeyId: keyIdentifier(issuing.spki),
      crlNumber: 1000,
      thisUpdate: NOW - MINUTE,
      nextUpdate: NOW + HOUR,
      entries: [],
      key: forger
    })
    expectRefused(validateCrlMessage(NOW, { messageBytes: encodeCrlMessage(forged), from: RELAY }, ctx(verifier)), 'reject', 'BAD_SIGNATURE')
  })

  it('rejects a CRL whose signature bytes were altered (BAD_SIGNATURE)', () => {
    const tampered = Uint8Array.from(crl2)
    tampered[tampered.length - 5] ^= 0x01
    expectRefused(validateCrlMessage(NOW, { messageBytes: encodeCrlMessage(tampered), from: RELAY }, ctx(verifier)), 'reject', 'BAD_SIGNATURE')
  })

  it('rejects a foreign CA\'s CRL (UNKNOWN_ISSUER)', async () => {
    const foreignCrl = (await pki.foreign.ca.buildCrl(new Date(NOW - MINUTE))).der
    expectRefused(validateCrlMessage(NOW, { messageBytes: encodeCrlMessage(foreignCrl), from: RELAY }, ctx(verifier)), 'reject', 'UNKNOWN_ISSUER')
  })

  it('ignores an expired CRL (EXPIRED), before checking its signature', () => {
    let signatureChecks = 0
    const authority = { crlNumber: () => undefined, checkCrlSigner: () => { signatureChecks++ } }
    expectRefused(validateCrlMessage(NOW + 2 * HOUR, { messageBytes: encodeCrlMessage(crl1), from: RELAY }, { authority, maxSkewMs: DEFAULT_MAX_SKEW_MS }), 'ignore', 'EXPIRED')
    expect(signatureChecks).to.equal(0)
  })

  it('ignores a CRL issued in the future beyond the skew (NOT_YET_VALID)', () => {
    expectRefused(validateCrlMessage(NOW - 30 * MINUTE, { messageBytes: encodeCrlMessage(crl2), from: RELAY }, ctx(verifier)), 'ignore', 'NOT_YET_VALID')
  })

  it('rejects a message over the size limit before decoding (TOO_LARGE)', () => {
    const bytes = new Uint8Array(MAX_CRL_MESSAGE_BYTES + 1)
    expectRefused(validateCrlMessage(NOW, { messageBytes: bytes, from: RELAY }, ctx(verifier)), 'reject', 'TOO_LARGE')
  })

  it('rejects what is not a CRL message or not a CRL (MALFORMED)', () => {
    for (const bytes of [Uint8Array.of(0xff), encode({ v: 1 }), encode({ v: 1, crl: Uint8Array.of(0x30, 0x00) }), encode({ v: 1, crl: crl1, more: 1 }), encode([1, crl1])]) {
      expectRefused(validateCrlMessage(NOW, { messageBytes: bytes, from: RELAY }, ctx(verifier)), 'reject', 'MALFORMED')
    }
  })

  it('ignores a newer message version (UNSUPPORTED_VERSION)', () => {
    expectRefused(validateCrlMessage(NOW, { messageBytes: encode({ v: 2, crl: crl1 }), from: RELAY }, ctx(verifier)), 'ignore', 'UNSUPPORTED_VERSION')
  })

  it('ignores what a relay that is no longer a member still had queued (RELAY_NOT_MEMBER)', () => {
    const v = validateCrlMessage(NOW, { messageBytes: encodeCrlMessage(crl2), from: RELAY }, ctx(verifier, { isMember: () => false }))
    expectRefused(v, 'ignore', 'RELAY_NOT_MEMBER')
  })
})
