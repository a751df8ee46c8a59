import { expect } from 'aegir/chai'
import { decodeEnvelope, encodeEnvelope } from '../../../protocols/anomaly-gossip/codec.ts'
import { DelegationCache } from '../../../protocols/anomaly-gossip/delegation-cache.ts'
import { GossipKeyEpochs } from '../../../protocols/anomaly-gossip/gossip-key.ts'
import { DELEGATION_LABEL, ORIGIN_SIGNATURE_LABEL, originSigningInput } from '../../../protocols/anomaly-gossip/origin-proof.ts'
import { reverifyEnvelope } from '../../../protocols/anomaly-gossip/reverify.ts'
import { signAnomalyOffline } from '../../../protocols/anomaly-gossip/sign-anomaly.ts'
import { parseCertificate } from '../../../src/pki/certificate.ts'
import { revoke } from '../../node/fixtures.ts'
import { createGossipPki, encoded, envelopeFrom, HOUR, NOW, originChain, PAYLOAD, rawEncode, verifierFor } from './fixtures.ts'
import type { GossipPki } from './fixtures.ts'
import type { IdentitySigner } from '../../../src/pki/peer-verifier.ts'

describe('anomaly gossip: origin proof (delegation, epochs, offline signing, re-verification)', function () {
  let pki: GossipPki

  before(async () => { pki = await createGossipPki() })
  after(async () => { await pki?.close() })

  it('signs a labelled input over message_id, origin, payload digest, timestamp and expiry', () => {
    const e = envelopeFrom(pki.a)
    const input = originSigningInput(e).toString()
    expect(input.startsWith(`${ORIGIN_SIGNATURE_LABEL}\n${e.message_id}\n${e.origin}\n`)).to.equal(true)
    expect(input.endsWith(`\n${e.timestamp}\n${e.expiry}`)).to.equal(true)
    expect(ORIGIN_SIGNATURE_LABEL).to.not.equal(DELEGATION_LABEL)
  })

  it('round-trips the delegation and signature, and refuses envelopes without them or with the wrong sizes (MALFORMED)', () => {
    const e = envelopeFrom(pki.a)
    expect(decodeEnvelope(encoded(e))).to.deep.equal(e)
    const code = (o: Record<string, unknown>): string | undefined => {
      try { decodeEnvelope(rawEncode(o)) } catch (err: any) { return err.code }
      return undefined
    }
    const { sig, delegation, ...bare } = e
    expect(code(bare)).to.equal('MALFORMED')
    expect(code({ ...e, sig: sig.subarray(0, 63) })).to.equal('MALFORMED')
    expect(code({ ...e, delegation: { ...delegation, key: new Uint8Array(33) } })).to.equal('MALFORMED')
    expect(code({ ...e, delegation: { ...delegation, extra: 1 } })).to.equal('MALFORMED')
    expect(code({ ...e, delegation: { ...delegation, sig: new Uint8Array(200) } })).to.equal('MALFORMED')
  })

  it('verifies a delegation once and then answers from its cache; another delegation or leaf misses', () => {
    const cache = new DelegationCache(2)
    const leafA = parseCertificate(pki.a.chain[0])
    const e = envelopeFrom(pki.a)
    const key = cache.verify(leafA, 'node-a', e.delegation)
    expect(key).to.not.equal(undefined)
    expect(cache.verify(leafA, 'node-a', e.delegation)).to.equal(key)
    expect(cache.size).to.equal(1)
    // Under another leaf (b's identity key) or for another origin, the same delegation fails.
    expect(cache.verify(parseCertificate(pki.b.chain[0]), 'node-a', e.delegation)).to.equal(undefined)
    expect(cache.verify(leafA, 'node-b', e.delegation)).to.equal(undefined)
    expect(cache.size).to.equal(1)
  })

  it('finds a cached delegation by its signature but answers only for the very fields it verified', () => {
    const cache = new DelegationCache(4)
    const leafA = parseCertificate(pki.a.chain[0])
    const d = envelopeFrom(pki.a).delegation
    const key = cache.verify(leafA, 'node-a', d)
    expect(key).to.not.equal(undefined)
    // The genuine signature bytes over another key or window: verified in full, refused, not cached.
    const otherKey = Uint8Array.from(d.key)
    otherKey[0] ^= 1
    expect(cache.verify(leafA, 'node-a', { ...d, key: otherKey })).to.equal(undefined)
    expect(cache.verify(leafA, 'node-a', { ...d, exp: d.exp + 1 })).to.equal(undefined)
    expect(cache.verify(leafA, 'node-a', { ...d, nbf: d.nbf - 1 })).to.equal(undefined)
    // The genuine one still answers from the cache, from a copy of its bytes too.
    expect(cache.verify(leafA, 'node-a', { ...d, key: Uint8Array.from(d.key), sig: Uint8Array.from(d.sig) })).to.equal(key)
    expect(cache.size).to.equal(1)
  })

  it('asks the identity key once per epoch, again when the epoch ends or the leaf changes', async () => {
    let signs = 0
    const signer: IdentitySigner = { ...pki.a.credentials.signer, sign: async (d) => { signs++; return pki.a.credentials.signer.sign(d) } }
    const epochs = new GossipKeyEpochs(HOUR)
    const leaf = pki.a.chain[0]
    const notAfter = parseCertificate(leaf).notAfter
    const identity = { nodeId: 'node-a', notAfter, leaf, signer }
    const [e1, e2] = await Promise.all([epochs.current(NOW, NOW, identity), epochs.current(NOW, NOW, identity)])
    expect(e2).to.equal(e1)
    expect(await epochs.current(NOW + 30 * 60_000, NOW + 30 * 60_000, identity)).to.equal(e1)
    expect(signs).to.equal(1)
    expect(e1.delegation.exp).to.equal(NOW + HOUR)
    // Within a minute of its end: a new epoch.
    const e3 = await epochs.current(NOW + HOUR - 30_000, NOW + HOUR - 30_000, identity)
    expect(e3).to.not.equal(e1)
    // A rotated leaf: a new epoch at once.
    const e4 = await epochs.current(NOW + HOUR, NOW + HOUR, { ...identity, leaf: Uint8Array.from(leaf) })
    expect(e4).to.not.equal(e3)
    expect(signs).to.equal(3)
    expect(epochs.identitySignatures).to.equal(3)
  })

  it('never delegates past the certificate', async () => {
    const leaf = parseCertificate(pki.a.chain[0])
    const epochs = new GossipKeyEpochs(48 * HOUR)
    const e = await epochs.current(NOW, NOW, { nodeId: 'node-a', notAfter: leaf.notAfter, leaf: pki.a.chain[0], signer: pki.a.credentials.signer })
    expect(e.delegation.exp).to.equal(leaf.notAfter)
  })

  it('signs offline an envelope any node accepts; re-verifies it later against the chain at its timestamp and today\'s revocation', async () => {
    const { bytes, envelope } = await signAnomalyOffline(NOW, PAYLOAD, { chain: originChain(pki.r), signer: pki.r.credentials.signer, ttlMs: HOUR })
    expect(envelope.origin).to.equal('node-r')
    expect(Buffer.from(encodeEnvelope(envelope)).equals(Buffer.from(bytes))).to.equal(true)
    const verifier = verifierFor(pki.ca)
    // Later than the certificate's end: still the origin's message.
    const later = parseCertificate(pki.r.chain[0]).notAfter + HOUR
    expect(reverifyEnvelope(later, bytes, { verifier })).to.include({ valid: true, expired: true })
    // Tampered: refused.
    const tampered = encodeEnvelope({ ...envelope, expiry: envelope.expiry + 1 })
    expect(reverifyEnvelope(NOW, tampered, { verifier })).to.include({ valid: false, code: 'BAD_ORIGIN_SIGNATURE' })
    // Revoked since: refused.
    await revoke(pki.ca, pki.r.serialHex)
    verifier.installCrl(pki.ca.crls[pki.ca.crls.length - 1], new Date(NOW))
    expect(reverifyEnvelope(NOW, bytes, { verifier })).to.include({ valid: false, code: 'ORIGIN_REVOKED' })
  })
})
