import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import { pinPorts, planNetwork } from '../../../src/daemon/runtime/listen-ports.ts'
import { startNodeRuntime } from '../../../src/daemon/runtime/node-runtime.ts'
import { PASS, createTestMesh, runCli } from './harness.ts'
import type { TestMesh } from './harness.ts'
import type { NodeFile } from '../../../src/daemon/enroll/node-files.ts'
import type { NodeRuntime } from '../../../src/daemon/runtime/node-runtime.ts'
import type { MeshNodeConfig } from '../../../src/node/config.ts'

/**
 * Stable addresses: the ports a node picks at its first start are kept in node.json and used
 * again at every restart; `--announce` and node.json's `announce` are advertised. Real QUIC and
 * TCP listeners on the wildcard address (as `node start` runs), a real enrolled NODEDIR.
 */

const BASE: NodeFile = { config: {} } as unknown as NodeFile

async function nodeJson (dir: string): Promise<NodeFile> {
  return JSON.parse(await readFile(join(dir, 'node.json'), 'utf8'))
}

function ports (addrs: string[], proto: 'udp' | 'tcp'): string[] {
  return [...new Set(addrs.map(a => new RegExp(`/${proto}/(\\d+)`).exec(a)?.[1]).filter((p): p is string => p != null))]
}

describe('stable listen ports and announced addresses (node.json)', function () {
  this.timeout(120_000)

  describe('planNetwork and pinPorts', () => {
    it('without --listen or node.json: wildcard port 0 per transport, to be pinned', () => {
      const plan = planNetwork(BASE, { transports: { quic: true, tcp: false } })
      expect(plan.config.listen).to.deep.equal(['/ip4/0.0.0.0/udp/0/quic-v1'])
      expect(plan.pin).to.equal(true)
    })

    it('node.json\'s recorded ports are used again and not pinned anew; --listen overrides them for one run', () => {
      const file = { ...BASE, listen: ['/ip4/0.0.0.0/udp/41001/quic-v1', '/ip4/0.0.0.0/tcp/41002'] }
      expect(planNetwork(file, {})).to.deep.include({ pin: false })
      expect(planNetwork(file, {}).config.listen).to.deep.equal(file.listen)
      // A transport switched off this run leaves its stored entry alone; one switched on gets a fresh port.
      expect(planNetwork(file, { transports: { quic: true, tcp: false } }).config.listen).to.deep.equal(['/ip4/0.0.0.0/udp/41001/quic-v1'])
      const quicOnly = { ...BASE, listen: ['/ip4/0.0.0.0/udp/41001/quic-v1'] }
      expect(planNetwork(quicOnly, {})).to.deep.equal({ config: { listen: ['/ip4/0.0.0.0/udp/41001/quic-v1', '/ip4/0.0.0.0/tcp/0'], announce: [] }, pin: true })
      const flag: MeshNodeConfig = { listen: ['/ip4/127.0.0.1/udp/0/quic-v1'] }
      expect(planNetwork(file, flag)).to.deep.equal({ config: { listen: flag.listen, announce: [] }, pin: false })
    })

    it('announce and dht_mode come from node.json unless the flags say otherwise', () => {
      const file = { ...BASE, announce: ['/ip4/198.51.100.9/udp/4001/quic-v1'], dht_mode: 'client' as const }
      expect(planNetwork(file, {}).config).to.deep.include({ announce: file.announce, dht: { mode: 'client' } })
      const flags: MeshNodeConfig = { announce: ['/dns4/boot.example.net/udp/4001/quic-v1'], dht: { mode: 'server' } }
      expect(planNetwork(file, flags).config).to.deep.include({ announce: flags.announce, dht: { mode: 'server' } })
    })

    it('a node.json entry that is not a multiaddr is refused, naming the key: NODE_DIR_INVALID', () => {
      expect(() => planNetwork({ ...BASE, listen: ['/ip4/0.0.0.0/udp/banana/quic-v1'] }, {})).to.throw().with.property('code', 'NODE_DIR_INVALID')
      expect(() => planNetwork({ ...BASE, announce: 'nope' as any }, {})).to.throw(/"announce"/).with.property('code', 'NODE_DIR_INVALID')
      expect(() => planNetwork({ ...BASE, announce: Array(33).fill('/ip4/1.2.3.4/tcp/1') }, {})).to.throw(/at most 32/).with.property('code', 'NODE_DIR_INVALID')
      expect(() => planNetwork({ ...BASE, dht_mode: 'sometimes' as any }, {})).to.throw(/dht_mode/).with.property('code', 'NODE_DIR_INVALID')
    })

    it('pinPorts puts the bound port in place of port 0, per transport and IP family', () => {
      const bound = ['/ip4/127.0.0.1/udp/40123/quic-v1', '/ip4/10.0.0.5/udp/40123/quic-v1', '/ip4/127.0.0.1/tcp/40124', '/ip6/::1/tcp/40125'].map(s => multiaddr(s))
      expect(pinPorts(['/ip4/0.0.0.0/udp/0/quic-v1', '/ip4/0.0.0.0/tcp/0', '/ip6/::/tcp/0', '/ip4/0.0.0.0/tcp/7000'], bound))
        .to.deep.equal(['/ip4/0.0.0.0/udp/40123/quic-v1', '/ip4/0.0.0.0/tcp/40124', '/ip6/::/tcp/40125', '/ip4/0.0.0.0/tcp/7000'])
    })
  })

  describe('a node started twice', () => {
    let mesh: TestMesh
    const runtimes: NodeRuntime[] = []

    before(async () => { mesh = await createTestMesh('stable-listen') })
    after(async () => {
      await Promise.all(runtimes.splice(0).map(async r => r.stop()))
      await mesh.cleanup()
    })

    async function start (dir: string, options: MeshNodeConfig = {}): Promise<NodeRuntime> {
      const r = await startNodeRuntime({ dir, passphrase: PASS, api: false, runFile: false, crl: false, options: { mdns: { enabled: false }, ...options } })
      runtimes.push(r)
      return r
    }

    async function stop (r: NodeRuntime): Promise<void> {
      runtimes.splice(runtimes.indexOf(r), 1)
      await r.stop()
    }

    it('keeps the QUIC and TCP ports it picked at its first start, recorded in node.json', async () => {
      const dir = await mesh.enroll('stable-1')
      expect((await nodeJson(dir)).listen).to.equal(undefined)
      const first = await start(dir)
      const addrs1 = first.node.getMultiaddrs().map(String)
      const [udp] = ports(addrs1, 'udp')
      const [tcp] = ports(addrs1, 'tcp')
      expect(Number(udp)).to.be.greaterThan(0)
      expect(Number(tcp)).to.be.greaterThan(0)
      const recorded = (await nodeJson(dir)).listen
      expect(recorded).to.deep.equal([`/ip4/0.0.0.0/udp/${udp}/quic-v1`, `/ip4/0.0.0.0/tcp/${tcp}`])
      // The rest of node.json is untouched by the write.
      expect((await nodeJson(dir)).node_id).to.equal('stable-1')
      await stop(first)

      const second = await start(dir)
      const addrs2 = second.node.getMultiaddrs().map(String)
      expect(ports(addrs2, 'udp')).to.deep.equal([udp])
      expect(ports(addrs2, 'tcp')).to.deep.equal([tcp])
      expect((await nodeJson(dir)).listen).to.deep.equal(recorded)
      await stop(second)
    })

    it('--listen runs on the given address once and records nothing', async () => {
      const dir = await mesh.enroll('stable-2')
      const r = await start(dir, { listen: ['/ip4/127.0.0.1/udp/0/quic-v1'], transports: { quic: true, tcp: false } })
      expect(r.node.getMultiaddrs().every(a => a.toString().startsWith('/ip4/127.0.0.1/udp/'))).to.equal(true)
      expect((await nodeJson(dir)).listen).to.equal(undefined)
      await stop(r)
    })

    it('node.json\'s announce is advertised, and --announce replaces it for the run', async () => {
      const dir = await mesh.enroll('stable-3')
      const file = await nodeJson(dir)
      await writeFile(join(dir, 'node.json'), JSON.stringify({ ...file, announce: ['/dns4/node3.example.net/udp/4001/quic-v1'] }))
      const r1 = await start(dir, { listen: ['/ip4/127.0.0.1/udp/0/quic-v1'], transports: { quic: true, tcp: false } })
      const peer = r1.dir.peerId
      expect(r1.node.getMultiaddrs().map(String)).to.include(`/dns4/node3.example.net/udp/4001/quic-v1/p2p/${peer}`)
      expect(r1.node.dhtMode?.decision?.reason).to.equal('public-address')
      await stop(r1)
      const r2 = await start(dir, { listen: ['/ip4/127.0.0.1/udp/0/quic-v1'], transports: { quic: true, tcp: false }, announce: ['/ip4/198.51.100.20/udp/4001/quic-v1'] })
      const own = r2.node.getMultiaddrs().map(String)
      expect(own).to.include(`/ip4/198.51.100.20/udp/4001/quic-v1/p2p/${peer}`)
      expect(own.some(a => a.includes('node3.example.net'))).to.equal(false)
      await stop(r2)
    })

    it('a bad --announce is a usage error naming the flag, before anything opens', async () => {
      const dir = await mesh.enroll('stable-4')
      const bad = await runCli(['node', 'start', '--dir', dir, '--announce', '/ip4/1.2.3/udp/4001/quic-v1'])
      expect(bad.code).to.equal(2)
      expect(bad.stderr).to.match(/--announce/)
      const withPeer = await runCli(['node', 'start', '--dir', dir, '--announce', '/ip4/1.2.3.4/udp/4001/quic-v1/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN'])
      expect(withPeer.code).to.equal(2)
      expect(withPeer.stderr).to.match(/--announce .*\/p2p\//)
      const mode = await runCli(['node', 'start', '--dir', dir, '--dht-mode', 'sometimes'])
      expect(mode.code).to.equal(2)
      expect(mode.stderr).to.match(/--dht-mode/)
      // Nothing opened: no run.json, no database, node.json untouched.
      expect((await nodeJson(dir)).listen).to.equal(undefined)
    })
  })
})
