import { expect } from 'aegir/chai'
import { MemoryLevel } from 'memory-level'
import { encodeCrlMessage } from '../../../protocols/crl-gossip/index.ts'
import { createMeshNode, MESH_NODE_DEFAULTS, resolveOptions } from '../../../src/node/index.ts'
import { wrapStore } from '../../../src/store/mesh-store.ts'
import { NOW, createTestCa, enroll, loopbackOptions, now, verifierFor } from '../fixtures.ts'
import { chainVerifierFor } from '../gossip-fixtures.ts'
import type { RootDb } from '../../../src/store/mesh-store.ts'
import type { Enrolled, TestCa } from '../fixtures.ts'

/** Gossip as a node option: on by default, off on request, and what it needs when on. */
describe('mesh node: the gossip option', function () {
  let tca: TestCa
  let e: Enrolled

  before(async () => {
    tca = await createTestCa('gossip-config')
    e = await enroll(tca, 'cfg-node')
  })
  after(async () => { await tca?.close() })

  it('is on by default, with a clock skew allowance of 5 minutes', () => {
    expect(MESH_NODE_DEFAULTS.gossip).to.include({ enabled: true, maxSkewMs: 300_000, ipColocationFactorWeight: null })
    expect(resolveOptions({ gossip: { ipColocationFactorWeight: 0 } }).gossip).to.include({ enabled: true, ipColocationFactorWeight: 0 })
    expect(() => resolveOptions({ gossip: { maxSkewMs: 0 } })).to.throw().with.property('code', 'CONFIG_INVALID')
  })

  it('on without the node\'s ChainVerifier or store: CONFIG_INVALID, nothing started', async () => {
    const base = { privateKey: e.hostKey, credentials: e.credentials, now, start: false }
    const options = loopbackOptions('quic', { gossip: { enabled: true } })
    const store = wrapStore(new MemoryLevel<string, any>({ keyEncoding: 'utf8', valueEncoding: 'json' }) as unknown as RootDb)
    for (const init of [{ ...base, verifier: verifierFor(tca), store, options }, { ...base, chainVerifier: chainVerifierFor(tca), options }]) {
      const err = await createMeshNode(init).then(() => undefined, (x: any) => x)
      expect(err).to.have.property('name', 'MeshNodeError')
      expect(err).to.have.property('code', 'CONFIG_INVALID')
    }
  })

  it('off: no gossip services; publishAnomaly and anomalies answer GOSSIP_DISABLED', async () => {
    const node = await createMeshNode({ privateKey: e.hostKey, credentials: e.credentials, verifier: verifierFor(tca), now, start: false, options: loopbackOptions('quic') })
    expect(node.gossip).to.equal(undefined)
    expect(Object.keys(node.libp2p.services)).to.not.include.members(['pubsub'])
    expect(() => node.anomalies).to.throw().with.property('code', 'GOSSIP_DISABLED')
    await expect(node.publishAnomaly({ type: 'sha256', value: 'ab' })).to.eventually.be.rejected.with.property('code', 'GOSSIP_DISABLED')
  })

  it('on: pubsub, anomalyGossip, crlGossip and revoke share the one ChainVerifier; auth derives from it', async () => {
    const chainVerifier = chainVerifierFor(tca)
    const store = wrapStore(new MemoryLevel<string, any>({ keyEncoding: 'utf8', valueEncoding: 'json' }) as unknown as RootDb)
    const node = await createMeshNode({ privateKey: e.hostKey, credentials: e.credentials, chainVerifier, store, now, start: false, options: loopbackOptions('quic', { gossip: { enabled: true } }) })
    expect(Object.keys(node.libp2p.services)).to.include.members(['pubsub', 'anomalyGossip', 'crlGossip', 'revoke'])
    expect(node.gossip?.anomalies).to.equal(node.anomalies)
    // A CRL accepted by the gossip service lands in the one ChainVerifier (what auth checks with).
    const crl = await tca.ca.buildCrl(new Date(NOW - 60_000))
    expect((await node.gossip?.crl.offer(encodeCrlMessage(crl.der), 'fetch'))?.action).to.equal('accept')
    expect(chainVerifier.crls.map(c => c.crlNumber)).to.deep.equal([BigInt(crl.crlNumber)])
  })
})
