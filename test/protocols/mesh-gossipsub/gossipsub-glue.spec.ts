import { createPeerScoreParams, createPeerScoreThresholds, validatePeerScoreParams, validatePeerScoreThresholds } from '@libp2p/gossipsub/score'
import { expect } from 'aegir/chai'
import { encode } from 'cborg'
import { envelopeDigest } from '../../../protocols/anomaly-gossip/codec.ts'
import { TOPIC } from '../../../protocols/anomaly-gossip/constants.ts'
import { peekEnvelope } from '../../../protocols/anomaly-gossip/envelope-memo.ts'
import { TOPIC as CRL_TOPIC } from '../../../protocols/crl-gossip/constants.ts'
import { IDONTWANT_MIN_BYTES, meshGossipsubOptions, NOT_MEMBER_SCORE } from '../../../protocols/mesh-gossipsub/gossipsub-options.ts'
import { anomalyMsgId, meshFastMsgIdFn, meshMsgIdFn, meshMsgIdFnWith } from '../../../protocols/mesh-gossipsub/msg-id.ts'
import { NOTICE_TOPIC } from '../../../protocols/rotate-now/constants.ts'
import { createGossipPki, encoded, envelopeFrom, PAYLOAD, rawEncode } from '../anomaly-gossip/fixtures.ts'
import { signedMessage } from '../anomaly-gossip/helpers.ts'
import type { AnomalyEnvelope } from '../../../protocols/anomaly-gossip/codec.ts'
import type { GossipPki } from '../anomaly-gossip/fixtures.ts'
import type { Message } from '@libp2p/gossipsub'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

describe('anomaly gossip: gossipsub glue (msg-id, gossip-result, gossipsub-options)', function () {
  let pki: GossipPki
  before(async () => { pki = await createGossipPki() })
  after(async () => { await pki?.close() })

  const unsigned = (topic: string, data: Uint8Array): Message => ({ type: 'unsigned', topic, data })

  it('gives every copy of one message the same 20-byte id, whatever the chain it carries or who injects it', () => {
    const e = envelopeFrom(pki.a)
    const first = meshMsgIdFn(unsigned(TOPIC, encoded(e)))
    // The origin re-sends it with its full chain (other bytes).
    const copy = meshMsgIdFn(unsigned(TOPIC, encoded({ ...e, origin_cert: pki.a.chain })))
    // The identical bytes serialised again into a fresh buffer (what a relay or a re-publish hands gossipsub).
    const again = meshMsgIdFn(unsigned(TOPIC, encoded(structuredClone(e))))
    expect(first).to.have.length(20)
    expect(hex(copy)).to.equal(hex(first))
    expect(hex(again)).to.equal(hex(first))
    expect(hex(first)).to.equal(hex(anomalyMsgId(envelopeDigest(e), e.sig)))
  })

  it('gives a second version of a message_id (other payload, same origin) an id of its own, so gossipsub hands it to the validator', () => {
    const e = envelopeFrom(pki.a)
    const first = meshMsgIdFn(unsigned(TOPIC, encoded(e)))
    const otherPayload = meshMsgIdFn(unsigned(TOPIC, encoded(envelopeFrom(pki.a, { messageId: e.message_id, payload: { ...PAYLOAD, value: 'b'.repeat(64) } }))))
    const otherExpiry = meshMsgIdFn(unsigned(TOPIC, encoded(envelopeFrom(pki.a, { messageId: e.message_id, ttlMs: e.expiry - e.timestamp + 1 }))))
    expect(hex(otherPayload)).to.not.equal(hex(first))
    expect(hex(otherExpiry)).to.not.equal(hex(first))
    expect(hex(otherExpiry)).to.not.equal(hex(otherPayload))
  })

  it('gives the content id only to an envelope whose origin proof holds (no id squatting with a broken copy)', () => {
    const e = envelopeFrom(pki.a)
    const proven = (x: AnomalyEnvelope): boolean => Buffer.from(x.delegation.sig).equals(Buffer.from(e.delegation.sig))
    const idFn = meshMsgIdFnWith(proven)
    const genuine = idFn(unsigned(TOPIC, encoded(e)))
    // Same message_id, content and signature, a delegation that is not the origin's.
    const broken = idFn(unsigned(TOPIC, encoded({ ...e, delegation: { ...e.delegation, sig: new Uint8Array(70).fill(1) } })))
    expect(hex(genuine)).to.equal(hex(anomalyMsgId(envelopeDigest(e), e.sig)))
    expect(hex(broken)).to.not.equal(hex(genuine))
    // A forgery with another signature over the same content has an id of its own in any case.
    const forged = meshMsgIdFn(unsigned(TOPIC, encoded({ ...e, sig: new Uint8Array(64).fill(9) })))
    expect(hex(forged)).to.not.equal(hex(genuine))
  })

  it('hashes undecodable envelopes by content, never throws, and keeps topics apart', () => {
    const junk1 = meshMsgIdFn(signedMessage(TOPIC, Uint8Array.of(1, 2, 3), pki.a.peerId))
    const junk2 = meshMsgIdFn(signedMessage(TOPIC, Uint8Array.of(1, 2, 4), pki.a.peerId))
    expect(hex(junk1)).to.not.equal(hex(junk2))
    const data = encoded(envelopeFrom(pki.a))
    const onCrl = meshMsgIdFn(signedMessage(CRL_TOPIC, data, pki.a.peerId))
    const onCrlAgain = meshMsgIdFn(signedMessage(CRL_TOPIC, data, pki.b.peerId))
    expect(hex(onCrl)).to.equal(hex(onCrlAgain)) // a CRL is the same message whoever gossips it
    expect(hex(onCrl)).to.not.equal(hex(meshMsgIdFn(signedMessage(TOPIC, data, pki.a.peerId))))
    expect(meshMsgIdFn({ type: 'unsigned', topic: TOPIC, data })).to.have.length(20)
  })

  it('decodes an envelope once for msgIdFn and the validator (same bytes object)', () => {
    const data = encoded(envelopeFrom(pki.a))
    expect(peekEnvelope(data)).to.equal(peekEnvelope(data))
    const bad = rawEncode({ v: 9 })
    expect(peekEnvelope(bad)).to.have.property('code', 'UNSUPPORTED_VERSION')
  })

  it('keys the fast duplicate cache on every byte of the raw message: only a byte-identical copy matches', () => {
    const b = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill)
    const raw = { topic: TOPIC, from: b(38, 1), seqno: b(8, 2), data: b(300, 3), signature: b(64, 4), key: b(36, 5) }
    const id = meshFastMsgIdFn(raw)
    expect(meshFastMsgIdFn({ ...raw, data: raw.data.slice() })).to.equal(id)
    // Any field changed, even the signature alone (a re-signature or a forgery), is another key.
    for (const field of ['from', 'seqno', 'data', 'signature', 'key'] as const) {
      const changed = raw[field].slice()
      changed[0] ^= 1
      expect(meshFastMsgIdFn({ ...raw, [field]: changed })).to.not.equal(id)
    }
    expect(meshFastMsgIdFn({ ...raw, topic: CRL_TOPIC })).to.not.equal(id)
    // Length framing: moving a byte from one field to the next changes the key.
    expect(meshFastMsgIdFn({ ...raw, seqno: Uint8Array.of(...b(8, 2), 3), data: b(299, 3) })).to.not.equal(id)
    expect(meshFastMsgIdFn({ topic: TOPIC })).to.be.a('string')
  })

  it('builds gossipsub options: StrictNoSign, our msgIdFn, only mesh topics, members-only scoring', () => {
    const members = new Set(['peer-in'])
    const o = meshGossipsubOptions({ isMember: (p) => members.has(p) })
    expect(o.globalSignaturePolicy).to.equal('StrictNoSign')
    expect(o.msgIdFn).to.be.a('function')
    expect(o.fastMsgIdFn).to.equal(meshFastMsgIdFn)
    expect(o.asyncValidation).to.equal(false)
    expect([...(o.allowedTopics as string[])]).to.deep.equal([TOPIC, CRL_TOPIC, NOTICE_TOPIC])
    expect(o.directPeers).to.deep.equal([])
    const score = o.scoreParams?.appSpecificScore as (p: string) => number
    expect(score('peer-in')).to.equal(0)
    expect(score('peer-out')).to.equal(NOT_MEMBER_SCORE)
    expect(NOT_MEMBER_SCORE * (o.scoreParams?.appSpecificWeight ?? 0)).to.be.below(o.scoreThresholds?.graylistThreshold as number)
  })

  it('encodes nothing it would refuse: the shape scan bounds nesting', () => {
    expect(peekEnvelope(encode({ a: { b: { c: [1] } } }))).to.have.property('code', 'MALFORMED')
  })

  it('sends IDONTWANT only for large messages: an anomaly envelope with its origin chain is below the threshold', () => {
    const o = meshGossipsubOptions({ isMember: () => true })
    expect(o.idontwantMinDataSize).to.equal(IDONTWANT_MIN_BYTES)
    // The envelope as published: payload, signature and the origin's chain (gossipsub compares
    // the message data's length with the threshold).
    const envelope = encoded(envelopeFrom(pki.a, { payload: { ...PAYLOAD, meta: { rule: 'r'.repeat(200), score: 7 } } }))
    expect(envelope.byteLength).to.be.above(512).and.below(IDONTWANT_MIN_BYTES)
  })

  it('has score parameters gossipsub accepts, and P4 tuned as documented', () => {
    const o = meshGossipsubOptions({ isMember: () => true })
    const params = createPeerScoreParams(o.scoreParams)
    const thresholds = createPeerScoreThresholds(o.scoreThresholds)
    expect(() => { validatePeerScoreParams(params) }).to.not.throw()
    expect(() => { validatePeerScoreThresholds(thresholds) }).to.not.throw()
    const cap = params.topicScoreCap
    const p4 = (topic: string, n: number): number => params.topics[topic].topicWeight * params.topics[topic].invalidMessageDeliveriesWeight * n * n
    // Anomalies: two mistakes never graylist even a peer without credit; seven always do.
    expect(p4(TOPIC, 2)).to.be.above(thresholds.gossipThreshold)
    expect(p4(TOPIC, 6) + cap).to.be.at.least(thresholds.graylistThreshold)
    expect(p4(TOPIC, 7) + cap).to.be.below(thresholds.graylistThreshold)
    // CRLs: the second forged CRL graylists, whatever credit the anomaly topic gave.
    expect(p4(CRL_TOPIC, 1)).to.be.below(thresholds.gossipThreshold)
    expect(p4(CRL_TOPIC, 2) + cap).to.be.below(thresholds.graylistThreshold)
  })
})
