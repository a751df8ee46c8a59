import { expect } from 'aegir/chai'
import { createTestCa, enroll, eventually, loopbackOptions, startNode } from './fixtures.ts'
import type { TestCa } from './fixtures.ts'
import type { MeshNode } from '../../src/node/index.ts'

/**
 * The assembly end to end: nodes that know only one bootstrap address find each other through
 * the DHT (bootstrap dial, kad self-queries, discovery dials) and authenticate every link.
 */
/** How many peers `node` shows as authenticated. */
function authenticatedCount (node: MeshNode): number {
  return node.peers.rows().filter(r => r.status === 'authenticated').length
}

describe('mesh formation through one bootstrap address (QUIC, DHT)', function () {
  let tca: TestCa
  const nodes: MeshNode[] = []

  before(async () => { tca = await createTestCa('formation') })
  afterEach(async () => { await Promise.all(nodes.splice(0).map(async n => { await n.stop() })) })
  after(async () => { await tca.close() })

  it('five nodes end up pairwise authenticated', async () => {
    const options = { discovery: { dialDiscovered: true } }
    const bootstrapNode = await startNode('boot', await enroll(tca, 'boot'), tca, loopbackOptions('quic', options))
    nodes.push(bootstrapNode)
    const bootAddr = bootstrapNode.getMultiaddrs()[0].toString()
    for (let i = 1; i < 5; i++) {
      nodes.push(await startNode(`m${i}`, await enroll(tca, `member-${i}`), tca, loopbackOptions('quic', { ...options, bootstrap: [bootAddr] })))
    }
    await eventually(() => nodes.every(n => authenticatedCount(n) === nodes.length - 1), 30_000)
    for (const n of nodes) { expect(n.peers.rows().map(r => r.status)).to.deep.equal(Array(4).fill('authenticated')) }
  })
})
