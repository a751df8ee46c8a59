import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { createTestMesh, eventuallyAsync, peersOf, runChild, runCli, spawnNode } from '../daemon/runtime/harness.ts'
import type { NodeProcess, TestMesh } from '../daemon/runtime/harness.ts'

/**
 * The mesh forms from the command line: `dadm-mesh node start` child processes with certificates
 * enrolled through the real enrollment HTTP service, one bootstrap address, real QUIC (or TCP+TLS)
 * on loopback, and the result read back through `dadm-mesh node peers --json` (the admin API
 * over mutual TLS). mDNS is off: these tests never multicast on the machine's interfaces.
 */

const exists = async (p: string): Promise<boolean> => stat(p).then(() => true, () => false)

/** Waits until every node's `node peers` lists exactly the others, all authenticated. */
async function allAuthenticated (dirs: Array<{ dir: string, nodeId: string }>, ms: number): Promise<Map<string, any[]>> {
  const last = new Map<string, any[]>()
  await eventuallyAsync(async () => {
    for (const { dir, nodeId } of dirs) {
      const rows = await peersOf(dir)
      last.set(nodeId, rows)
      const others = dirs.filter(d => d.nodeId !== nodeId).map(d => d.nodeId).sort()
      const authed = rows.filter(r => r.status === 'authenticated').map(r => r.node_id).sort()
      if (JSON.stringify(authed) !== JSON.stringify(others)) { return false }
    }
    return true
  }, ms)
  return last
}

for (const transport of ['quic', 'tcp'] as const) {
  describe(`cli: three nodes from \`node start\` find each other through one bootstrap address (${transport === 'quic' ? 'QUIC' : 'TCP+TLS, QUIC disabled'})`, function () {
    let mesh: TestMesh
    const procs: NodeProcess[] = []
    const listen = transport === 'quic' ? '/ip4/127.0.0.1/udp/0/quic-v1' : '/ip4/127.0.0.1/tcp/0'
    const flags = transport === 'quic' ? ['--no-tcp', '--no-mdns'] : ['--no-quic', '--no-mdns']

    before(async () => { mesh = await createTestMesh(`cli-${transport}`) })
    after(async () => {
      await Promise.all(procs.splice(0).map(async p => p.stop()))
      await mesh.cleanup()
    })

    it('all three show each other authenticated in `node peers --json`; stopping removes run.json', async () => {
      const ids = ['n1', 'n2', 'n3'].map(n => `${transport}-${n}`)
      const dirs: Array<{ nodeId: string, dir: string }> = []
      // Over QUIC the nodes are enrolled by `dadm-mesh node enroll` itself; over TCP by its library call.
      for (const nodeId of ids) { dirs.push({ nodeId, dir: await mesh.enroll(nodeId, { cli: transport === 'quic' }) }) }

      // 1. The first node is the bootstrap address; the other two know only it.
      const first = await spawnNode(['node', 'start', '--dir', dirs[0].dir, '--listen', listen, ...flags])
      procs.push(first)
      expect(first.addrs).to.have.length(1)
      expect(first.addrs[0]).to.include(transport === 'quic' ? '/quic-v1/' : '/tcp/')
      for (const d of dirs.slice(1)) {
        procs.push(await spawnNode(['node', 'start', '--dir', d.dir, '--listen', listen, '--bootstrap', first.addrs[0], ...flags]))
      }

      // 2. Every node's admin API lists the two others, authenticated, over this transport.
      const t0 = Date.now()
      const tables = await allAuthenticated(dirs, 45_000)
      // eslint-disable-next-line no-console -- the formation time is this test's figure
      console.log(`      mesh of 3 formed (${transport}) in ${Date.now() - t0} ms after the last start`)
      for (const [nodeId, rows] of tables) {
        expect(rows, nodeId).to.have.length(2)
        for (const r of rows) {
          expect(r).to.include.all.keys('node_id', 'peer_id', 'status', 'transport', 'last_seen', 'cert_serial', 'cert_not_after')
          expect(r.transport).to.equal(transport)
          expect(r.status).to.equal('authenticated')
          expect(r.peer_id).to.match(/^12D3KooW/)
          expect(Date.parse(r.cert_not_after)).to.be.greaterThan(Date.now())
        }
      }

      // 3. run.json names the process; SIGTERM stops it cleanly (exit 0) and removes run.json.
      const run = JSON.parse(await readFile(join(dirs[2].dir, 'run.json'), 'utf8'))
      expect(run.pid).to.equal(procs[2].pid)
      expect(run.api_url).to.match(/^https:\/\/127\.0\.0\.1:\d+$/)
      expect(await procs[2].stop()).to.equal(0)
      expect(await exists(join(dirs[2].dir, 'run.json'))).to.equal(false)
      expect(procs[2].stderr()).to.include('stopped')
      // The others see it disconnected, never unauthenticated-but-listed.
      await eventuallyAsync(async () => (await peersOf(dirs[0].dir)).find(r => r.node_id === ids[2])?.status === 'disconnected', 15_000)
    })
  })
}

describe('cli: bootstrap-server', function () {
  let mesh: TestMesh
  const procs: NodeProcess[] = []

  before(async () => { mesh = await createTestMesh('cli-boot') })
  after(async () => {
    await Promise.all(procs.splice(0).map(async p => p.stop()))
    await mesh.cleanup()
  })

  it('two members that know only the bootstrap server find each other; the server lists both', async () => {
    const serverDir = await mesh.enroll('boot-1')
    const aDir = await mesh.enroll('member-a')
    const bDir = await mesh.enroll('member-b')
    const flags = ['--no-tcp', '--no-mdns']
    const server = await spawnNode(['bootstrap-server', '--dir', serverDir, '--listen', '/ip4/127.0.0.1/udp/0/quic-v1', ...flags])
    procs.push(server)
    expect(server.stderr()).to.include('dadm-mesh bootstrap-server: node boot-1')
    for (const d of [aDir, bDir]) {
      procs.push(await spawnNode(['node', 'start', '--dir', d, '--listen', '/ip4/127.0.0.1/udp/0/quic-v1', '--bootstrap', server.addrs[0], ...flags]))
    }
    await allAuthenticated([{ dir: serverDir, nodeId: 'boot-1' }, { dir: aDir, nodeId: 'member-a' }, { dir: bDir, nodeId: 'member-b' }], 45_000)
  })

  it('a second `node start` on a running NODEDIR is refused (ALREADY_RUNNING), and `node peers` on a stopped one says NOT_RUNNING', async () => {
    const dir = await mesh.enroll('single')
    const p = await spawnNode(['node', 'start', '--dir', dir, '--listen', '/ip4/127.0.0.1/udp/0/quic-v1', '--no-tcp', '--no-mdns'])
    procs.push(p)
    // A child process: were it not refused, it would run until signalled (and be killed by the deadline).
    const again = await runChild(['node', 'start', '--dir', dir, '--listen', '/ip4/127.0.0.1/udp/0/quic-v1', '--no-tcp', '--no-mdns'])
    expect(again.code).to.equal(1)
    expect(again.stderr).to.include('ALREADY_RUNNING')
    expect(await p.stop()).to.equal(0)
    const peers = await runCli(['node', 'peers', '--dir', dir])
    expect(peers.code).to.equal(1)
    expect(peers.stderr).to.include('NOT_RUNNING')
  })
})
