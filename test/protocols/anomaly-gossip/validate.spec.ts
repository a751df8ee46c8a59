import { createPrivateKey } from 'node:crypto'
import { expect } from 'aegir/chai'
import { encode } from 'cborg'
import { envelopeDigest } from '../../../protocols/anomaly-gossip/codec.ts'
import { MAX_ENVELOPE_BYTES, MAX_PAYLOAD_BYTES, MAX_TTL_MS, WIRE_VERSION } from '../../../protocols/anomaly-gossip/constants.ts'
import { ANOMALY_CODE_ACTIONS } from '../../../protocols/anomaly-gossip/errors.ts'
import { signEnvelope } from '../../../protocols/anomaly-gossip/gossip-key.ts'
import { isConflict, validateAnomaly } from '../../../protocols/anomaly-gossip/validate.ts'
import { parseCertificate } from '../../../src/pki/certificate.ts'
import { revoke } from '../../node/fixtures.ts'
import { contextFor, createGossipPki, encoded, envelopeFrom, epochOf, HOUR, MINUTE, NOW, originChain, PAYLOAD, rawEncode, verifierFor } from './fixtures.ts'
import type { GossipPki } from './fixtures.ts'
import type { AnomalyValidationInput, AnomalyVerdict } from '../../../protocols/anomaly-gossip/validate.ts'
import type { ChainVerifier } from '../../../src/pki/chain-verifier.ts'
import type { Enrolled } from '../../node/fixtures.ts'

/**
 * A gossip message relayed to us by `relay`. `_injector` is the member that put it into gossip:
 * under StrictNoSign nothing of it travels, which is the point (only the envelope's own proof counts).
 */
function input (bytes: Uint8Array, _injector: Enrolled, relay: Enrolled): AnomalyValidationInput {
  return { envelopeBytes: bytes, from: relay.peerId.toString() }
}

/** An envelope carried by a DTN bundle signed by `signer`, relayed by `relay`. */
function carried (bytes: Uint8Array, signer: Enrolled, relay: Enrolled): AnomalyValidationInput {
  return { ...input(bytes, signer, relay), signerPeerId: signer.peerId.toString() }
}

function expectRefused (v: AnomalyVerdict, action: 'reject' | 'ignore', code: string): void {
  expect(v.action, `verdict ${JSON.stringify(v.action === 'accept' ? 'accept' : v)}`).to.equal(action)
  if (v.action !== 'accept') { expect(v.code).to.equal(code) }
}

const b64url = (b: Uint8Array): string => Buffer.from(b).toString('base64url')

describe('anomaly gossip: validateAnomaly', function () {
  let pki: GossipPki
  let verifier: ChainVerifier

  before(async () => {
    pki = await createGossipPki()
  })
  after(async () => { await pki?.close() })
  beforeEach(() => { verifier = verifierFor(pki.ca) })

  it('accepts a valid envelope relayed by a member, naming the origin its certificate binds', () => {
    const e = envelopeFrom(pki.a)
    const v = validateAnomaly(NOW, input(encoded(e), pki.a, pki.b), contextFor(verifier))
    expect(v.action).to.equal('accept')
    if (v.action !== 'accept') { return }
    expect(v.origin).to.deep.equal({ nodeId: 'node-a', peerId: pki.a.peerId.toString() })
    expect(v.payload).to.deep.equal(PAYLOAD)
    expect(v.envelope.message_id).to.equal(e.message_id)
    expect(v.digest).to.equal(envelopeDigest(e))
  })

  // --- each rejection case on its own, so a failure names the one check that broke ---

  it('rejects an expired envelope (EXPIRED)', () => {
    const e = envelopeFrom(pki.a, { now: NOW - 2 * HOUR, ttlMs: HOUR })
    expectRefused(validateAnomaly(NOW, input(encoded(e), pki.a, pki.b), contextFor(verifier)), 'reject', 'EXPIRED')
  })

  it('rejects a replay of an old message id (REPLAYED)', () => {
    const e = envelopeFrom(pki.a)
    const ctx = contextFor(verifier)
    const first = validateAnomaly(NOW, input(encoded(e), pki.a, pki.b), ctx)
    expect(first.action).to.equal('accept')
    if (first.action === 'accept') { ctx.seenMap.set(e.message_id, { digest: first.digest }) }
    // The same envelope, later, from another relay: past gossipsub's own duplicate window.
    const again = validateAnomaly(NOW + 10 * MINUTE, input(encoded(e), pki.a, pki.r), ctx)
    expectRefused(again, 'reject', 'REPLAYED')
  })

  it('rejects a future timestamp (FUTURE_TIMESTAMP)', () => {
    const e = envelopeFrom(pki.a, { now: NOW + 6 * MINUTE })
    expectRefused(validateAnomaly(NOW, input(encoded(e), pki.a, pki.b), contextFor(verifier)), 'reject', 'FUTURE_TIMESTAMP')
  })

  it('rejects a payload over the size limit (PAYLOAD_TOO_LARGE)', () => {
    const payloadBytes = encode({ type: 'sha256', value: 'x', meta: { pad: 'y'.repeat(MAX_PAYLOAD_BYTES) } })
    const bytes = rawEncode(envelopeFrom(pki.a, { payloadBytes }))
    expect(bytes.byteLength).to.be.below(MAX_ENVELOPE_BYTES)
    expectRefused(validateAnomaly(NOW, input(bytes, pki.a, pki.b), contextFor(verifier)), 'reject', 'PAYLOAD_TOO_LARGE')
  })

  it('rejects a message from a revoked origin, correctly signed and relayed through a valid node (ORIGIN_REVOKED)', async () => {
    const e = envelopeFrom(pki.r)
    const bytes = encoded(e)
    // Before the CRL: accepted (warms the chain cache for r).
    expect(validateAnomaly(NOW, input(bytes, pki.r, pki.b), contextFor(verifier)).action).to.equal('accept')
    await revoke(pki.ca, pki.r.serialHex)
    verifier.installCrl(pki.ca.crls[0], new Date(NOW))
    // Signed by r itself (a valid gossipsub signature), relayed by b, which is still valid.
    expectRefused(validateAnomaly(NOW, input(encoded(envelopeFrom(pki.r)), pki.r, pki.b), contextFor(verifier)), 'reject', 'ORIGIN_REVOKED')
  })

  it('rejects a message whose origin node_id is on the deny list (ORIGIN_REVOKED), before any chain work', () => {
    let chainChecks = 0
    const counting = { verify: (...args: Parameters<ChainVerifier['verify']>) => { chainChecks++; return verifier.verify(...args) } }
    const e = envelopeFrom(pki.a)
    const v = validateAnomaly(NOW, input(encoded(e), pki.a, pki.b), { ...contextFor(verifier), verifier: counting, isRevoked: (id) => id === 'node-a' })
    expectRefused(v, 'reject', 'ORIGIN_REVOKED')
    expect(chainChecks).to.equal(0)
  })

  it('rejects a carried envelope whose origin_cert belongs to another node than the bundle signer (PEER_ID_MISMATCH)', () => {
    // b carries in a bundle it signed an envelope of a's; only the origin carries its envelopes.
    const e = envelopeFrom(pki.a)
    expectRefused(validateAnomaly(NOW, carried(encoded(e), pki.b, pki.r), contextFor(verifier)), 'reject', 'PEER_ID_MISMATCH')
  })

  it('rejects an envelope signed with a stolen host key but without the origin\'s gossip key (BAD_ORIGIN_SIGNATURE)', () => {
    // The forger copied a's libp2p host key and reuses a's genuine delegation (any envelope of a's
    // shows it), then signs other content under a's name with what it has: the host key.
    const genuine = envelopeFrom(pki.a)
    const hostKey = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(pki.a.hostKey.publicKey.raw), d: b64url(pki.a.hostKey.raw.subarray(0, 32)) }, format: 'jwk' })
    const forged = signEnvelope({ ...genuine, payload: encode({ type: 'sha256', value: 'f'.repeat(64) }) }, { privateKey: hostKey, delegation: genuine.delegation })
    expectRefused(validateAnomaly(NOW, input(encoded(forged), pki.b, pki.b), contextFor(verifier)), 'reject', 'BAD_ORIGIN_SIGNATURE')
    // The same content with the genuine signature over other content: refused alike.
    const tampered = { ...genuine, payload: encode({ type: 'sha256', value: 'f'.repeat(64) }) }
    expectRefused(validateAnomaly(NOW, input(encoded(tampered), pki.b, pki.b), contextFor(verifier)), 'reject', 'BAD_ORIGIN_SIGNATURE')
  })

  it('rejects a delegation the origin\'s identity key did not sign, or that outlives its certificate (BAD_DELEGATION)', () => {
    // b delegates its own gossip key in a's name: its identity key is not the one a's certificate holds.
    const own = envelopeFrom(pki.b)
    const inA = signEnvelope({ ...envelopeFrom(pki.a), delegation: undefined } as any, { privateKey: epochOf(pki.b).privateKey, delegation: own.delegation })
    expectRefused(validateAnomaly(NOW, input(encoded(inA), pki.b, pki.b), contextFor(verifier)), 'reject', 'BAD_DELEGATION')
    // a's own delegation, stretched past its certificate's notAfter.
    const e = envelopeFrom(pki.a)
    const stretched = { ...e, delegation: { ...e.delegation, exp: e.delegation.exp + HOUR } }
    expectRefused(validateAnomaly(NOW, input(encoded(stretched), pki.a, pki.b), contextFor(verifier)), 'reject', 'BAD_DELEGATION')
  })

  it('rejects an envelope timestamped outside its delegation\'s window (DELEGATION_EXPIRED), before any chain work', () => {
    let chainChecks = 0
    const counting = { verify: (...args: Parameters<ChainVerifier['verify']>) => { chainChecks++; return verifier.verify(...args) } }
    const e = envelopeFrom(pki.a)
    const stale = { ...e, delegation: { ...e.delegation, exp: e.timestamp - 1 } }
    expectRefused(validateAnomaly(NOW, input(encoded(stale), pki.a, pki.b), { ...contextFor(verifier), verifier: counting }), 'reject', 'DELEGATION_EXPIRED')
    expect(chainChecks).to.equal(0)
  })

  it('rejects an origin certificate from a foreign CA (CERT_UNTRUSTED)', () => {
    const e = envelopeFrom(pki.f)
    expectRefused(validateAnomaly(NOW, input(encoded(e), pki.f, pki.b), contextFor(verifier)), 'reject', 'CERT_UNTRUSTED')
  })

  // --- the other rules ---

  it('refuses a second version of a held message id signed by its origin, as evidence of equivocation (CONFLICTING_PAYLOAD)', () => {
    const e = envelopeFrom(pki.a)
    const ctx = contextFor(verifier)
    ctx.seenMap.set(e.message_id, { digest: envelopeDigest(e) })
    const other = envelopeFrom(pki.a, { messageId: e.message_id, payloadBytes: encode({ type: 'sha256', value: 'b'.repeat(64) }) })
    const v = validateAnomaly(NOW, input(encoded(other), pki.a, pki.b), ctx)
    // Ignore, not reject: the relay (B) may be an honest node that heard this version first.
    expectRefused(v, 'ignore', 'CONFLICTING_PAYLOAD')
    expect(isConflict(v)).to.equal(true)
    if (!isConflict(v)) { return }
    expect(v.messageId).to.equal(e.message_id)
    expect(v.origin).to.deep.equal({ nodeId: 'node-a', peerId: pki.a.peerId.toString() })
    expect(v.heldDigest).to.equal(envelopeDigest(e))
    expect(v.conflictingDigest).to.equal(envelopeDigest(other))
  })

  it('does not take a second version signed by another member for the origin\'s equivocation (BAD_ORIGIN_SIGNATURE)', () => {
    const e = envelopeFrom(pki.a)
    const ctx = contextFor(verifier)
    ctx.seenMap.set(e.message_id, { digest: envelopeDigest(e) })
    // B forges A's message id, origin, chain and delegation over other content, and signs it with B's gossip key.
    const forged = signEnvelope({ ...e, payload: encode({ type: 'sha256', value: 'b'.repeat(64) }) }, { privateKey: epochOf(pki.b).privateKey, delegation: e.delegation })
    const v = validateAnomaly(NOW, input(encoded(forged), pki.b, pki.b), ctx)
    expectRefused(v, 'reject', 'BAD_ORIGIN_SIGNATURE')
    expect(isConflict(v)).to.equal(false)
  })

  it('does not take a second version under an untrusted chain for an equivocation (CERT_UNTRUSTED)', () => {
    const e = envelopeFrom(pki.a)
    const ctx = contextFor(verifier)
    ctx.seenMap.set(e.message_id, { digest: envelopeDigest(e) })
    const alien = { ...e, payload: encode({ type: 'sha256', value: 'b'.repeat(64) }), origin_cert: originChain(pki.f) }
    const v = validateAnomaly(NOW, input(encoded(alien), pki.f, pki.b), ctx)
    expectRefused(v, 'reject', 'CERT_UNTRUSTED')
    expect(isConflict(v)).to.equal(false)
  })

  it('treats a re-encoded copy (renewed chain) of a known id as the same message (REPLAYED, not a conflict)', () => {
    const e = envelopeFrom(pki.a)
    const ctx = contextFor(verifier)
    ctx.seenMap.set(e.message_id, { digest: envelopeDigest(e) })
    const copy = { ...e, origin_cert: pki.a.chain } // leaf, issuing CA and root: other bytes, same content
    expectRefused(validateAnomaly(NOW, input(encoded(copy), pki.a, pki.b), ctx), 'reject', 'REPLAYED')
  })

  it('ignores an envelope expired by our clock but within the skew (EXPIRED_IN_TRANSIT)', () => {
    const e = envelopeFrom(pki.a, { now: NOW - HOUR - MINUTE, ttlMs: HOUR })
    expectRefused(validateAnomaly(NOW, input(encoded(e), pki.a, pki.b), contextFor(verifier)), 'ignore', 'EXPIRED_IN_TRANSIT')
  })

  it('accepts a timestamp ahead of us within the skew', () => {
    const e = envelopeFrom(pki.a, { now: NOW + 4 * MINUTE })
    expect(validateAnomaly(NOW, input(encoded(e), pki.a, pki.b), contextFor(verifier)).action).to.equal('accept')
  })

  it('rejects a lifetime that is not positive or longer than the maximum (BAD_LIFETIME)', () => {
    const zero = { ...envelopeFrom(pki.a), expiry: NOW }
    expectRefused(validateAnomaly(NOW, input(encoded(zero), pki.a, pki.b), contextFor(verifier)), 'reject', 'BAD_LIFETIME')
    const long = envelopeFrom(pki.a, { ttlMs: MAX_TTL_MS + 1 })
    expectRefused(validateAnomaly(NOW, input(encoded(long), pki.a, pki.b), contextFor(verifier)), 'reject', 'BAD_LIFETIME')
  })

  it('rejects an envelope whose certificate names another node than its origin (ORIGIN_MISMATCH)', () => {
    // a signs, with its own chain, an envelope claiming to come from node-b.
    const e = envelopeFrom(pki.a, { origin: 'node-b' })
    expectRefused(validateAnomaly(NOW, input(encoded(e), pki.a, pki.a), contextFor(verifier)), 'reject', 'ORIGIN_MISMATCH')
  })

  it('rejects an origin certificate that has expired (CERT_EXPIRED)', () => {
    const later = NOW + 30 * HOUR // a's certificate lives 24 h from NOW - 1 h
    // A delegation that covers the timestamp (its signature never gets checked: the chain fails first).
    const epoch = epochOf(pki.a)
    const e = envelopeFrom(pki.a, { now: later, epoch: { ...epoch, delegation: { ...epoch.delegation, exp: later + HOUR } } })
    expectRefused(validateAnomaly(later, input(encoded(e), pki.a, pki.b), contextFor(verifier)), 'reject', 'CERT_EXPIRED')
  })

  it('rejects a CA certificate presented as the origin leaf (CERT_INVALID)', () => {
    const e = envelopeFrom(pki.a, { chain: [pki.a.chain[1]] })
    expectRefused(validateAnomaly(NOW, input(encoded(e), pki.a, pki.b), contextFor(verifier)), 'reject', 'CERT_INVALID')
  })

  it('rejects a verified leaf that names no node_id and PeerId (NOT_NODE_CERT)', () => {
    // The mesh policy (EKU clientAuth + serverAuth) lets no such leaf through our CA; a verifier
    // with another policy could, and the validator must not rely on it.
    const issuing = parseCertificate(pki.a.chain[1])
    const lenient = { verify: () => ({ path: [issuing], anchor: issuing }) }
    const e = envelopeFrom(pki.a)
    expectRefused(validateAnomaly(NOW, input(encoded(e), pki.a, pki.b), contextFor(verifier, { verifier: lenient })), 'reject', 'NOT_NODE_CERT')
  })

  it('rejects an envelope over the size limit before decoding it (TOO_LARGE)', () => {
    const bytes = new Uint8Array(MAX_ENVELOPE_BYTES + 1).fill(0xff)
    expectRefused(validateAnomaly(NOW, input(bytes, pki.a, pki.b), contextFor(verifier)), 'reject', 'TOO_LARGE')
  })

  it('rejects bytes that are not the envelope (MALFORMED)', () => {
    for (const bytes of [Uint8Array.of(0xa1), encode([1, 2, 3]), rawEncode({ ...envelopeFrom(pki.a), extra: 1 }), rawEncode({ ...envelopeFrom(pki.a), timestamp: -1 }),
      rawEncode({ ...envelopeFrom(pki.a), origin_cert: [] }), encode({ v: 1, deep: [[[[1]]]] })]) {
      expectRefused(validateAnomaly(NOW, input(bytes, pki.a, pki.b), contextFor(verifier)), 'reject', 'MALFORMED')
    }
  })

  it('ignores a newer envelope version (UNSUPPORTED_VERSION)', () => {
    const bytes = rawEncode({ ...envelopeFrom(pki.a), v: WIRE_VERSION + 1 })
    expectRefused(validateAnomaly(NOW, input(bytes, pki.a, pki.b), contextFor(verifier)), 'ignore', 'UNSUPPORTED_VERSION')
  })

  it('rejects a message_id outside the origin namespace (BAD_MESSAGE_ID)', () => {
    for (const messageId of ['node-b:1', 'node-a', 'node-a:', 'node-a:x y', `node-a:${'x'.repeat(200)}`]) {
      const bytes = rawEncode({ ...envelopeFrom(pki.a), message_id: messageId })
      expectRefused(validateAnomaly(NOW, input(bytes, pki.a, pki.b), contextFor(verifier)), 'reject', 'BAD_MESSAGE_ID')
    }
  })

  it('rejects a payload that breaks its schema or is not canonical (BAD_PAYLOAD)', () => {
    const bad = [
      encode({ type: 'sha256', value: 'line one\nline two' }), // a multi-line value: what a log looks like
      encode({ type: 'SHA256', value: 'x' }),
      encode({ type: 'sha256', value: 'x', extra: true }),
      encode({ type: 'sha256', value: 'x', meta: { nested: { a: 1 } } }),
      encode({ type: 'sha256', value: '' }),
      Uint8Array.of(0xa2, 0x65, ...new TextEncoder().encode('value'), 0x61, 0x78, 0x64, ...new TextEncoder().encode('type'), 0x61, 0x74) // keys out of canonical order
    ]
    for (const payloadBytes of bad) {
      const e = envelopeFrom(pki.a, { payloadBytes })
      expectRefused(validateAnomaly(NOW, input(encoded(e), pki.a, pki.b), contextFor(verifier)), 'reject', 'BAD_PAYLOAD')
    }
  })

  it('ignores what a relay that is no longer a member still had queued (RELAY_NOT_MEMBER)', () => {
    const e = envelopeFrom(pki.a)
    const v = validateAnomaly(NOW, input(encoded(e), pki.a, pki.b), contextFor(verifier, { isMember: (p) => p !== pki.b.peerId.toString() }))
    expectRefused(v, 'ignore', 'RELAY_NOT_MEMBER')
  })

  // --- order and cost ---

  it('runs cheap checks before the chain: an expired envelope with a foreign chain is EXPIRED, and no chain is checked', () => {
    let chainChecks = 0
    const counting = { verify: (...args: Parameters<ChainVerifier['verify']>) => { chainChecks++; return verifier.verify(...args) } }
    const e = envelopeFrom(pki.f, { now: NOW - 3 * HOUR })
    expectRefused(validateAnomaly(NOW, input(encoded(e), pki.f, pki.b), { ...contextFor(verifier), verifier: counting }), 'reject', 'EXPIRED')
    expect(chainChecks).to.equal(0)
  })

  it('verifies an origin chain once: later envelopes from that origin hit the cache (same parsed path)', () => {
    const ctx = contextFor(verifier)
    const v1 = validateAnomaly(NOW, input(encoded(envelopeFrom(pki.a)), pki.a, pki.b), ctx)
    const v2 = validateAnomaly(NOW + 1000, input(encoded(envelopeFrom(pki.a, { now: NOW + 1000 })), pki.a, pki.r), ctx)
    expect(v1.action).to.equal('accept')
    expect(v2.action).to.equal('accept')
    if (v1.action === 'accept' && v2.action === 'accept') { expect(v2.leaf).to.equal(v1.leaf) }
    expect(verifier.cacheSize).to.equal(1)
  })

  it('gives every code exactly one action, and the validator never returns another', () => {
    expect(ANOMALY_CODE_ACTIONS.EXPIRED).to.equal('reject')
    expect(ANOMALY_CODE_ACTIONS.EXPIRED_IN_TRANSIT).to.equal('ignore')
    expect(ANOMALY_CODE_ACTIONS.RELAY_NOT_MEMBER).to.equal('ignore')
    expect(ANOMALY_CODE_ACTIONS.UNSUPPORTED_VERSION).to.equal('ignore')
    expect(ANOMALY_CODE_ACTIONS.CONFLICTING_PAYLOAD).to.equal('ignore')
    const ignores = Object.entries(ANOMALY_CODE_ACTIONS).filter(([, a]) => a === 'ignore').map(([c]) => c).sort()
    expect(ignores).to.deep.equal(['CONFLICTING_PAYLOAD', 'EXPIRED_IN_TRANSIT', 'RELAY_NOT_MEMBER', 'UNSUPPORTED_VERSION'])
    expect(parseCertificate(originChain(pki.a)[0]).serialHex).to.equal(pki.a.serialHex)
  })
})
