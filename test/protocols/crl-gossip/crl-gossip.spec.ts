import { TopicValidatorResult } from '@libp2p/gossipsub'
import { defaultLogger } from '@libp2p/logger'
import { expect } from 'aegir/chai'
import { decodeCrlMessage, encodeCrlMessage } from '../../../protocols/crl-gossip/codec.ts'
import { TOPIC } from '../../../protocols/crl-gossip/constants.ts'
import { DefaultCrlGossip } from '../../../protocols/crl-gossip/crl-gossip.ts'
import { crlRevocationPredicate, crlSource } from '../../../protocols/crl-gossip/revocation-predicate.ts'
import { parseCertificate } from '../../../src/pki/certificate.ts'
import { parseCrl } from '../../../src/pki/crl.ts'
import { createGossipPki, MINUTE, NOW, verifierFor } from '../anomaly-gossip/fixtures.ts'
import { FakePubSub, signedMessage } from '../anomaly-gossip/helpers.ts'
import type { NewCrlEvent } from '../../../protocols/crl-gossip/crl-gossip.ts'
import type { ChainVerifier } from '../../../src/pki/chain-verifier.ts'
import type { GossipPki } from '../anomaly-gossip/fixtures.ts'

describe('crl gossip: service', function () {
  let pki: GossipPki
  let crl1: Uint8Array
  let crl2: Uint8Array
  let verifier: ChainVerifier
  let pubsub: FakePubSub
  let hooked: NewCrlEvent[]
  let service: DefaultCrlGossip

  before(async () => {
    pki = await createGossipPki()
    crl1 = (await pki.ca.ca.buildCrl(new Date(NOW - 20 * MINUTE))).der
    await pki.ca.ca.revoke({ serialHex: pki.r.serialHex, now: new Date(NOW - 15 * MINUTE) })
    crl2 = (await pki.ca.ca.buildCrl(new Date(NOW - 10 * MINUTE))).der
  })
  after(async () => { await pki?.close() })
  beforeEach(async () => {
    verifier = verifierFor(pki.ca)
    pubsub = new FakePubSub()
    hooked = []
    service = new DefaultCrlGossip({ logger: defaultLogger(), pubsub }, {
      holder: verifier,
      onNewCrl: (e) => { hooked.push(e) },
      now: () => NOW
    })
    await service.start()
    await service.afterStart()
  })
  afterEach(async () => { await service.stop() })

  it('installs its validator before it subscribes', () => {
    expect(pubsub.validatorAtSubscribe.get(TOPIC)).to.equal(true)
  })

  it('installs a gossiped newer CRL and calls onNewCrl with what it newly revoked', async () => {
    const seen = new Promise<NewCrlEvent>(resolve => service.addEventListener('crl:accepted', (evt) => { resolve(evt.detail) }, { once: true }))
    expect(await service.topicValidator(pki.b.peerId, signedMessage(TOPIC, encodeCrlMessage(crl2), pki.b.peerId))).to.equal(TopicValidatorResult.Accept)
    const event = await seen
    expect(event.crlNumber).to.equal(2n)
    expect(event.newlyRevoked).to.deep.equal([pki.r.serialHex])
    expect(event.source).to.equal('gossip')
    expect(event.from).to.equal(pki.b.peerId.toString())
    expect(verifier.isRevoked(parseCertificate(pki.r.chain[0]))).to.equal(true)
    expect(hooked.map(e => e.crlNumber)).to.deep.equal([2n])
  })

  it('changes nothing for a stale CRL gossiped after a newer one: no un-revocation, no hook', async () => {
    const rCert = parseCertificate(pki.r.chain[0])
    expect(await service.topicValidator(pki.b.peerId, signedMessage(TOPIC, encodeCrlMessage(crl2), pki.b.peerId))).to.equal(TopicValidatorResult.Accept)
    expect(await service.topicValidator(pki.b.peerId, signedMessage(TOPIC, encodeCrlMessage(crl1), pki.b.peerId))).to.equal(TopicValidatorResult.Ignore)
    expect(verifier.crlNumber(rCert.issuer.key)).to.equal(2n)
    expect(verifier.isRevoked(rCert)).to.equal(true)
    expect(hooked.map(e => e.crlNumber)).to.deep.equal([2n])
    expect(service.validationMetrics.count(TOPIC, 'ignore', 'NOT_NEWER')).to.equal(1)
  })

  it('rejects a CRL that is not the CA\'s and counts it', async () => {
    const foreignCrl = (await pki.foreign.ca.buildCrl(new Date(NOW - MINUTE))).der
    expect(await service.topicValidator(pki.b.peerId, signedMessage(TOPIC, encodeCrlMessage(foreignCrl), pki.b.peerId))).to.equal(TopicValidatorResult.Reject)
    expect(service.validationMetrics.count(TOPIC, 'reject', 'UNKNOWN_ISSUER')).to.equal(1)
    expect(hooked).to.deep.equal([])
  })

  it('accepts a pushed CRL through offer() and gossips it on', async () => {
    const v = await service.offer(encodeCrlMessage(crl2), 'push', pki.b.peerId.toString())
    expect(v.action).to.equal('accept')
    expect(pubsub.published.map(p => p.topic)).to.deep.equal([TOPIC])
    expect(decodeCrlMessage(pubsub.published[0].data).crl).to.deep.equal(crl2)
    expect(hooked.map(e => [e.crlNumber, e.source])).to.deep.equal([[2n, 'push']])
    // A second push of the same CRL is no news and is not re-gossiped.
    expect((await service.offer(encodeCrlMessage(crl2), 'push')).action).to.equal('ignore')
    expect(pubsub.published).to.have.length(1)
  })

  it('publishes every CRL held when asked without one', async () => {
    await service.offer(encodeCrlMessage(crl1), 'fetch')
    pubsub.published.length = 0
    expect(await service.publishCrl()).to.equal(0)
    expect(pubsub.published).to.have.length(1)
  })

  it('turns a CRL into the node\'s revocation predicate, by issuer and serial', () => {
    const crl = parseCrl(crl2)
    const issuing = parseCertificate(pki.ca.ca.issuingCertificate.der)
    const isRevoked = crlRevocationPredicate(crl, [issuing, parseCertificate(pki.ca.root)])
    expect(isRevoked({ serialHex: pki.r.serialHex, issuerFingerprint: issuing.fingerprint })).to.equal(true)
    expect(isRevoked({ serialHex: pki.a.serialHex, issuerFingerprint: issuing.fingerprint })).to.equal(false)
    // The same serial under another issuer is another certificate.
    expect(isRevoked({ serialHex: pki.r.serialHex, issuerFingerprint: 'f'.repeat(64) })).to.equal(false)
    expect(crlSource(crl)).to.equal(`crl:${issuing.subject.key}`)
  })
})
