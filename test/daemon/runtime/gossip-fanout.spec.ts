import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { meshDegrees } from '../../../protocols/mesh-gossipsub/gossipsub-options.ts'
import { CA_CONFIG_DEFAULTS, GOSSIP_FANOUT_MAX, GOSSIP_FANOUT_MIN, validateCaConfig } from '../../../src/ca/config.ts'
import { startNodeRuntime } from '../../../src/daemon/runtime/node-runtime.ts'
import { PASS, createTestMesh } from './harness.ts'
import type { TestMesh } from './harness.ts'
import type { NodeRuntime } from '../../../src/daemon/runtime/node-runtime.ts'

/**
 * ca.json `gossip_fanout` reaches every node at enrollment (node.json config.gossip_fanout) and
 * becomes its gossipsub mesh degree D, with the other degrees scaled to it; outside 2..16 the CA
 * refuses its config and a node refuses to start.
 */
describe('gossip_fanout: the CA\'s fan-out is each node\'s gossipsub D, within bounds', function () {
  it('meshDegrees keeps gossipsub\'s defaults at 6 and its invariants at every allowed fan-out; outside the bounds it throws', () => {
    expect(meshDegrees(6)).to.deep.equal({ D: 6, Dlo: 4, Dhi: 12, Dscore: 4, Dout: 2 })
    for (let d = GOSSIP_FANOUT_MIN; d <= GOSSIP_FANOUT_MAX; d++) {
      const m = meshDegrees(d)
      expect(m.D).to.equal(d)
      expect(m.Dout, `Dout < Dlo at ${d}`).to.be.lessThan(m.Dlo)
      expect(m.Dlo).to.be.at.most(m.D)
      expect(m.D).to.be.at.most(m.Dhi)
      expect(m.Dout).to.be.at.most(m.D / 2)
      expect(m.Dscore).to.be.at.most(m.D)
    }
    for (const bad of [0, 1, 17, 2.5, Number.NaN]) { expect(() => meshDegrees(bad), String(bad)).to.throw(RangeError) }
  })

  it('a ca.json gossip_fanout outside 2..16 is BAD_CA_CONFIG naming the field and the range', () => {
    const base = { ...CA_CONFIG_DEFAULTS, key_algorithm: 'P-256', intermediate: false }
    expect(validateCaConfig({ ...base, gossip_fanout: 8 }).gossip_fanout).to.equal(8)
    for (const bad of [1, 17, 100]) {
      expect(() => validateCaConfig({ ...base, gossip_fanout: bad })).to.throw(/gossip_fanout \(2 to 16\)/).with.property('code', 'BAD_CA_CONFIG')
    }
  })

  describe('an enrolled node', () => {
    let mesh: TestMesh
    const runtimes: NodeRuntime[] = []
    before(async () => { mesh = await createTestMesh('gossip-fanout') })
    after(async () => {
      await Promise.all(runtimes.splice(0).map(async r => r.stop()))
      await mesh.cleanup()
    })

    async function withFanout (nodeId: string, fanout: number): Promise<string> {
      const dir = await mesh.enroll(nodeId)
      const file = JSON.parse(await readFile(join(dir, 'node.json'), 'utf8'))
      await writeFile(join(dir, 'node.json'), JSON.stringify({ ...file, config: { ...file.config, gossip_fanout: fanout } }))
      return dir
    }

    const start = async (dir: string): Promise<NodeRuntime> => startNodeRuntime({ dir, passphrase: PASS, api: false, runFile: false, crl: false, options: { mdns: { enabled: false }, listen: ['/ip4/127.0.0.1/udp/0/quic-v1'], transports: { quic: true, tcp: false } } })

    it('gossip-fanout-applied: node.json config.gossip_fanout 3 runs gossipsub with D 3 (and the CA hands its value out)', async () => {
      expect((await JSON.parse(await readFile(join(await mesh.enroll('fanout-default'), 'node.json'), 'utf8'))).config.gossip_fanout).to.equal(mesh.svc.ca.config.gossip_fanout)
      const r = await start(await withFanout('fanout-3', 3))
      runtimes.push(r)
      const opts = (r.node.libp2p.services as any).pubsub.opts
      expect({ D: opts.D, Dlo: opts.Dlo, Dhi: opts.Dhi, Dout: opts.Dout }).to.deep.equal({ D: 3, Dlo: 2, Dhi: 6, Dout: 1 })
      expect(r.node.options.gossip.fanout).to.equal(3)
    })

    it('gossip-fanout-bounds: a node.json gossip_fanout of 40 stops the start with CONFIG_INVALID naming gossip_fanout; nothing listens', async () => {
      const err = await start(await withFanout('fanout-40', 40)).then(r => { runtimes.push(r); return undefined }, (e: unknown) => e)
      expect(err).to.have.property('code', 'CONFIG_INVALID')
      expect((err as Error).message).to.include('gossip_fanout').and.include('2 to 16')
    })
  })
})
