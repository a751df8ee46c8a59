import { quic } from '@chainsafe/libp2p-quic'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { prefixLogger } from '@libp2p/logger'
import { expect } from 'aegir/chai'
import { createLibp2p } from 'libp2p'
import { MemoryLevel } from 'memory-level'
import { signEnvelope } from '../../../protocols/anomaly-gossip/gossip-key.ts'
import { anomalyGossip } from '../../../protocols/anomaly-gossip/index.ts'
import { ANOMALY_TOPIC } from '../../../protocols/anomaly-gossip/index.ts'
import { crlGossip, CRL_TOPIC, encodeCrlMessage } from '../../../protocols/crl-gossip/index.ts'
import { meshGossipsubOptions } from '../../../protocols/mesh-gossipsub/index.ts'
import { AnomalyStore } from '../../../src/store/anomaly-store.ts'
import { wrapStore } from '../../../src/store/mesh-store.ts'
import { enroll, eventually, waitForEvent } from '../../node/fixtures.ts'
import { createGossipPki, encoded, envelopeFrom, epochOf, MINUTE, NOW, originChain, PAYLOAD, verifierFor } from './fixtures.ts'
import type { GossipPki } from './fixtures.ts'
import type { AnomalyGossip } from '../../../protocols/anomaly-gossip/index.ts'
import type { CrlGossip, NewCrlEvent } from '../../../protocols/crl-gossip/index.ts'
import type { AnomalyRecord } from '../../../src/store/anomaly-store.ts'
import type { RootDb } from '../../../src/store/mesh-store.ts'
import type { Enrolled } from '../../node/fixtures.ts'
import type { GossipSub } from '@libp2p/gossipsub'
import type { Identify } from '@libp2p/identify'
import type { Libp2p } from 'libp2p'

/**
 * The gossipsub-facing parts against real @libp2p/gossipsub 17 on loopback QUIC: msgIdFn,
 * topic validators, forwarding and peer scoring. Plain libp2p nodes (no auth protocol: that is
 * the mesh node's), a line a - b - c - d so that "not forwarded" can be observed one hop on.
 */

/** Public methods of the gossipsub class that its exported interface leaves out. */
type GossipSubClass = GossipSub & { getMeshPeers(topic: string): string[], getScore(peerId: string): number }

interface TestNode {
  name: string
  enrolled: Enrolled
  libp2p: Libp2p<{ identify: Identify, pubsub: GossipSubClass, anomaly: AnomalyGossip, crl: CrlGossip }>
  store: AnomalyStore
  crls: NewCrlEvent[]
}

async function startNode (pki: GossipPki, name: string, enrolled: Enrolled): Promise<TestNode> {
  const store = await AnomalyStore.open(wrapStore(new MemoryLevel<string, any>({ keyEncoding: 'utf8', valueEncoding: 'json' }) as unknown as RootDb))
  const verifier = verifierFor(pki.ca)
  const crls: NewCrlEvent[] = []
  const libp2p = await createLibp2p({
    privateKey: enrolled.hostKey,
    logger: prefixLogger(name),
    addresses: { listen: ['/ip4/127.0.0.1/udp/0/quic-v1'] },
    // QUIC, the mesh's primary transport (its TLS 1.3 lives in the transport itself).
    transports: [quic()],
    services: {
      identify: identify(),
      // Every node on 127.0.0.1: the IP-colocation penalty off, as DESIGN.md says for loopback.
      pubsub: gossipsub(meshGossipsubOptions({ isMember: () => true, ipColocationFactorWeight: 0 })) as any,
      anomaly: anomalyGossip({ store, verifier, origin: () => ({ chain: originChain(enrolled), signer: enrolled.credentials.signer }), now: () => NOW, sweepIntervalMs: 0 }) as any,
      crl: crlGossip({ holder: verifier, now: () => NOW, onNewCrl: (e) => { crls.push(e) } }) as any
    }
  })
  return { name, enrolled, libp2p: libp2p as any, store, crls }
}

describe('anomaly and CRL gossip over real gossipsub', function () {
  let pki: GossipPki
  let nodes: TestNode[]
  let [a, b, c, d] = [] as TestNode[]

  before(async () => {
    pki = await createGossipPki()
    const nodeD = await enroll(pki.ca, 'node-d')
    nodes = [
      await startNode(pki, 'a', pki.a),
      await startNode(pki, 'b', pki.b),
      await startNode(pki, 'c', pki.r),
      await startNode(pki, 'd', nodeD)
    ]
    ;[a, b, c, d] = nodes
    // 1. A line: a - b - c - d, and wait until each link is in both topic meshes.
    for (let i = 0; i + 1 < nodes.length; i++) { await nodes[i].libp2p.dial(nodes[i + 1].libp2p.getMultiaddrs()[0]) }
    await eventually(() => {
      for (let i = 0; i + 1 < nodes.length; i++) {
        const [x, y] = [nodes[i].libp2p, nodes[i + 1].libp2p]
        for (const topic of [ANOMALY_TOPIC, CRL_TOPIC]) {
          if (!x.services.pubsub.getMeshPeers(topic).includes(y.peerId.toString())) { return false }
          if (!y.services.pubsub.getMeshPeers(topic).includes(x.peerId.toString())) { return false }
        }
      }
      return true
    }, 15_000)
  })

  after(async () => {
    await Promise.all((nodes ?? []).map(async n => { await n.libp2p.stop() }))
    await pki?.close()
  })

  it('delivers a published signature to every store on the line, exactly once', async () => {
    const arrivals = [b, c, d].map(n => waitForEvent<AnomalyRecord>(n.store, 'anomaly'))
    const published = await a.libp2p.services.anomaly.publish(PAYLOAD)
    const records = await Promise.all(arrivals)
    expect(records.map(r => r.message_id)).to.deep.equal([published.messageId, published.messageId, published.messageId])
    expect(records.map(r => r.relay)).to.deep.equal([a, b, c].map(n => n.libp2p.peerId.toString()))
    for (const n of [b, c, d]) { expect(n.libp2p.services.anomaly.validationMetrics.count(ANOMALY_TOPIC, 'accept')).to.equal(1) }
  })

  it('rejects a forged envelope at the first hop, does not forward it, and lowers the sender\'s score', async () => {
    // b publishes an envelope claiming to be a's, with a's real chain and delegation, signed with b's gossip key.
    const forged = encoded(signEnvelope(envelopeFrom(pki.a, { now: NOW }), { privateKey: epochOf(pki.b).privateKey, delegation: epochOf(pki.a).delegation }))
    const before = c.libp2p.services.pubsub.getScore(b.libp2p.peerId.toString())
    await b.libp2p.services.pubsub.publish(ANOMALY_TOPIC, forged)
    await eventually(() => c.libp2p.services.anomaly.validationMetrics.count(ANOMALY_TOPIC, 'reject', 'BAD_ORIGIN_SIGNATURE') === 1, 5_000)
    await eventually(() => c.libp2p.services.pubsub.getScore(b.libp2p.peerId.toString()) < before, 5_000)
    // A valid message sent after it overtakes nothing: d sees the valid one and never the forgery.
    const arrival = waitForEvent<AnomalyRecord>(d.store, 'anomaly')
    const valid = await b.libp2p.services.anomaly.publish({ type: 'rule', value: 'r-99' })
    expect((await arrival).message_id).to.equal(valid.messageId)
    expect(d.libp2p.services.anomaly.validationMetrics.count(ANOMALY_TOPIC, 'reject')).to.equal(0)
    expect(a.libp2p.services.anomaly.validationMetrics.count(ANOMALY_TOPIC, 'reject', 'BAD_ORIGIN_SIGNATURE')).to.equal(1)
  })

  it('spreads a newer CRL to every node and ignores the older one gossiped after it', async () => {
    const crl1 = (await pki.ca.ca.buildCrl(new Date(NOW - 20 * MINUTE))).der
    await pki.ca.ca.revoke({ serialHex: pki.b.serialHex, now: new Date(NOW - 15 * MINUTE) })
    const crl2 = (await pki.ca.ca.buildCrl(new Date(NOW - 10 * MINUTE))).der
    // 1. The CA's CRL 2 is pushed to a, which installs it and gossips it on.
    expect((await a.libp2p.services.crl.offer(encodeCrlMessage(crl2), 'push')).action).to.equal('accept')
    const hasCrl2 = (n: TestNode): boolean => n.crls.some(e => e.crlNumber === 2n)
    await eventually(() => [b, c, d].every(hasCrl2), 5_000)
    for (const n of [b, c, d]) { expect(n.crls.map(e => e.newlyRevoked)).to.deep.equal([[pki.b.serialHex]]) }
    // 2. d gossips the older CRL 1: nobody installs it, and nobody is punished for it.
    await d.libp2p.services.crl.publishCrl(crl1)
    await eventually(() => c.libp2p.services.crl.validationMetrics.count(CRL_TOPIC, 'ignore', 'NOT_NEWER') === 1, 5_000)
    expect(nodes.map(n => n.crls.length)).to.deep.equal([1, 1, 1, 1])
    expect(c.libp2p.services.crl.validationMetrics.count(CRL_TOPIC, 'reject')).to.equal(0)
  })
})
