import { expect } from 'aegir/chai'
import { MESH_NODE_DEFAULTS, resolveOptions } from '../../src/node/index.ts'

function codeOf (fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (err: any) {
    expect(err.name).to.equal('MeshNodeError')
    return err.code
  }
  return undefined
}

describe('node config', () => {
  it('has one structuredClone-safe defaults object', () => {
    expect(structuredClone(MESH_NODE_DEFAULTS)).to.deep.equal(MESH_NODE_DEFAULTS)
    expect(MESH_NODE_DEFAULTS.auth.deadlineMs).to.equal(5_000)
    expect(MESH_NODE_DEFAULTS.dht.protocol).to.equal('/dadm-mesh/kad/1.0.0')
  })

  it('derives listen addresses from the enabled transports', () => {
    expect(resolveOptions().listen).to.deep.equal(['/ip4/0.0.0.0/udp/0/quic-v1', '/ip4/0.0.0.0/tcp/0'])
    expect(resolveOptions({ transports: { tcp: false } }).listen).to.deep.equal(['/ip4/0.0.0.0/udp/0/quic-v1'])
  })

  it('merges one level deep and does not touch the defaults', () => {
    const o = resolveOptions({ connectionManager: { maxConnections: 10 } })
    expect(o.connectionManager.maxConnections).to.equal(10)
    expect(o.connectionManager.inboundConnectionThreshold).to.equal(MESH_NODE_DEFAULTS.connectionManager.inboundConnectionThreshold)
    expect(MESH_NODE_DEFAULTS.connectionManager.maxConnections).to.equal(300)
  })

  it('refuses contradictions and nonsense (CONFIG_INVALID)', () => {
    expect(codeOf(() => resolveOptions({ transports: { quic: false, tcp: false } }))).to.equal('CONFIG_INVALID')
    expect(codeOf(() => resolveOptions({ transports: { quic: false }, listen: ['/ip4/127.0.0.1/udp/0/quic-v1'] }))).to.equal('CONFIG_INVALID')
    expect(codeOf(() => resolveOptions({ bootstrap: ['/ip4/10.0.0.1/udp/4001/quic-v1'] }))).to.equal('CONFIG_INVALID')
    expect(codeOf(() => resolveOptions({ auth: { deadlineMs: 0 } }))).to.equal('CONFIG_INVALID')
    expect(codeOf(() => resolveOptions({ backoff: { factor: 0.5 } }))).to.equal('CONFIG_INVALID')
  })
})
