/* eslint-disable jsdoc/check-indentation -- the doc comment holds a diagram */
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { byteStream } from '@libp2p/utils'
import { expect } from 'aegir/chai'
import { ANOMALY_TOPIC } from '../../../protocols/anomaly-gossip/index.ts'
import { CRL_TOPIC } from '../../../protocols/crl-gossip/index.ts'
import { REVOKE_PROTOCOL } from '../../../protocols/revoke/index.ts'
import { encoded, envelopeFrom } from '../../protocols/anomaly-gossip/fixtures.ts'
import { signedMessage } from '../../protocols/anomaly-gossip/helpers.ts'
import { NOW, createTestCa, enroll, eventually, waitForEvent } from '../fixtures.ts'
import { link, startGossipNode, stopAll, waitMeshed } from '../gossip-fixtures.ts'
import type { RevokedPeerEvent } from '../../../src/node/index.ts'
import type { TestCa } from '../fixtures.ts'
import type { GossipNode } from '../gossip-fixtures.ts'

/**
 * Revocation by push and CRL gossip between mesh nodes over QUIC, and what a newer CRL does:
 *
 *   P (operator node: publishes) ── A ── B
 *                                    \  /
 *                                     R  (revoked)
 *
 * P pushes CRL 2 to A on /dadm-mesh/revoke/1.0.0; A installs it and gossips it on; B gets it by
 * gossip. A and B close their connections to R, block it, forget it, and drop what R still has
 * queued. An older CRL gossiped or pushed afterwards changes nothing.
 */
describe('revocation by push and CRL gossip (QUIC)', function () {
  this.timeout(120_000)
  let tca: TestCa
  let foreign: TestCa
  let p: GossipNode, a: GossipNode, b: GossipNode, r: GossipNode
  let crl1: Uint8Array
  let crl2: Uint8Array

  before(async () => {
    tca = await createTestCa('gossip-revoke')
    foreign = await createTestCa('gossip-revoke-foreign')
    p = await startGossipNode('p', await enroll(tca, 'operator'), tca, { host: 110 })
    a = await startGossipNode('a', await enroll(tca, 'node-a'), tca, { host: 111 })
    b = await startGossipNode('b', await enroll(tca, 'node-b'), tca, { host: 112 })
    r = await startGossipNode('r', await enroll(tca, 'node-r'), tca, { host: 113 })
    await link(p, a)
    await link(a, b)
    await link(r, a)
    await link(r, b)
    await waitMeshed([[p, a], [a, b], [r, a], [r, b]])
    crl1 = (await tca.ca.buildCrl(new Date(NOW - 20 * 60_000))).der
    await tca.ca.revoke({ serialHex: r.enrolled.serialHex, now: new Date(NOW - 15 * 60_000) })
    crl2 = (await tca.ca.buildCrl(new Date(NOW - 10 * 60_000))).der
  })

  after(async () => {
    await stopAll([p, a, b, r])
    await tca?.close()
    await foreign?.close()
  })

  it('a pushed CRL is installed, gossiped on, and every holder cuts the revoked node off', async () => {
    const revokedAt = [a, b].map(async n => waitForEvent<RevokedPeerEvent>(n.node, 'peer:revoked', e => e.peerId === r.peerId, 10_000))
    // 1. P publishes CRL 2: installs it itself, gossips it, pushes it to A (its one peer).
    const published = await p.node.publishCrl(crl2)
    expect(published.local.action).to.equal('accept')
    // The push reached A: installed from it, or already installed from P's gossip a moment before.
    expect(published.pushed).to.have.length(1)
    expect(published.pushed[0].peerId).to.equal(a.peerId)
    expect(published.pushed[0].error).to.equal(undefined)
    expect(published.pushed[0].ok || published.pushed[0].code === 'NOT_NEWER').to.equal(true)
    // 2. A (push) and B (gossip from A) expel R.
    for (const e of await Promise.all(revokedAt)) { expect(e).to.deep.include({ peerId: r.peerId, nodeId: 'node-r', serialHex: r.enrolled.serialHex }) }
    await eventually(() => [a, b].every(n => n.node.libp2p.getConnections(r.node.peerId).length === 0), 5_000)
    for (const n of [a, b]) {
      expect(n.verifier.crlNumber(n.verifier.crls[0].issuer.key)).to.equal(2n)
      expect(n.node.peers.has(r.peerId)).to.equal(false)
      expect(n.node.blockList.get(r.peerId)?.reason).to.equal('REVOKED')
      expect(n.node.isAuthenticated(r.peerId)).to.equal(false)
    }
    // B heard it from A on /dadm-mesh/crl/1 (P is not B's neighbour).
    await eventually(() => b.gossip.crl.validationMetrics.count(CRL_TOPIC, 'accept') === 1, 5_000)
  })

  it('gossip R still had queued is dropped at validation, and its signatures are refused wherever they come from', async () => {
    // A message relayed by R that was queued before the revocation and is validated now.
    const fromR = signedMessage(ANOMALY_TOPIC, encoded(envelopeFrom(r.enrolled)), r.node.peerId)
    expect(await a.gossip.anomaly.topicValidator(r.node.peerId, fromR)).to.equal(TopicValidatorResult.Ignore)
    expect(a.gossip.anomaly.validationMetrics.count(ANOMALY_TOPIC, 'ignore', 'RELAY_NOT_MEMBER')).to.equal(1)
    // The same signature relayed by a member (B): the origin is revoked.
    expect(await a.gossip.anomaly.topicValidator(b.node.peerId, fromR)).to.equal(TopicValidatorResult.Reject)
    expect(a.gossip.anomaly.validationMetrics.count(ANOMALY_TOPIC, 'reject', 'ORIGIN_REVOKED')).to.equal(1)
    // R can no longer reach anyone.
    await expect(r.node.dial(a.node.getMultiaddrs()[0], { signal: AbortSignal.timeout(5_000) })).to.eventually.be.rejected()
  })

  it('an older CRL gossiped or pushed after the newer one changes nothing (no un-revocation)', async () => {
    // 1. B gossips CRL 1; A ignores it (NOT_NEWER), without penalty.
    await b.gossip.crl.publishCrl(crl1)
    await eventually(() => a.gossip.crl.validationMetrics.count(CRL_TOPIC, 'ignore', 'NOT_NEWER') === 1, 5_000)
    expect(a.gossip.crl.validationMetrics.count(CRL_TOPIC, 'reject')).to.equal(0)
    // 2. P pushes CRL 1 to A: refused as NOT_NEWER, and P is not struck for it.
    const [stale] = await p.gossip.revoke.push(crl1)
    expect(stale).to.deep.equal({ peerId: a.peerId, ok: false, code: 'NOT_NEWER' })
    expect(a.node.blockList.isBlocked(p.peerId)).to.equal(false)
    // 3. Nothing moved: CRL 2 held, R still revoked, blocked and refused.
    for (const n of [a, b]) {
      expect(n.verifier.crlNumber(n.verifier.crls[0].issuer.key)).to.equal(2n)
      expect(n.node.blockList.get(r.peerId)?.reason).to.equal('REVOKED')
    }
    await expect(r.node.dial(b.node.getMultiaddrs()[0], { signal: AbortSignal.timeout(5_000) })).to.eventually.be.rejected()
    expect(b.node.isAuthenticated(r.peerId)).to.equal(false)
  })

  it('a push of a CRL from a foreign CA is refused and strikes the pusher', async () => {
    const alien = (await foreign.ca.buildCrl(new Date(NOW - 60_000))).der
    const [outcome] = await p.gossip.revoke.push(alien)
    expect(outcome).to.deep.equal({ peerId: a.peerId, ok: false, code: 'UNKNOWN_ISSUER' })
    expect(a.node.blockList.get(p.peerId)?.reason).to.equal('INVALID_CRL_PUSH')
    expect(a.verifier.crls).to.have.length(1)
  })

  it('an oversized push frame is refused from its length prefix, before the body is read', async () => {
    const stream = await b.node.openStream(a.node.peerId, REVOKE_PROTOCOL, { signal: AbortSignal.timeout(5_000) })
    // A varint of 2^28: far above the 256 KiB limit; no body follows.
    stream.send(Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x01))
    await eventually(() => a.node.blockList.get(b.peerId)?.reason === 'INVALID_CRL_PUSH', 5_000)
    // A aborted the stream: it ends without a byte of answer (well before the deadline).
    expect(await byteStream(stream).read({ signal: AbortSignal.timeout(5_000) })).to.equal(null)
  })
})
