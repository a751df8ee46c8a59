import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { expect } from 'aegir/chai'
import { BIN, ENV, createTestMesh, eventuallyAsync, spawnNode } from './harness.ts'
import type { NodeProcess, TestMesh } from './harness.ts'

const run = promisify(execFile)

/**
 * mDNS discovery between two `dadm-mesh node start` processes, each inside a network namespace
 * this test creates and joins with a veth pair (10.213.0.1 and 10.213.0.2, addresses that exist
 * only inside the namespaces). Nothing here multicasts on the machine's real interfaces: the
 * nodes see only their namespace's loopback and veth end, which the test checks before it starts
 * them. Creating namespaces needs root (CAP_SYS_ADMIN); without it the suite says so and skips.
 */
const TAG = `${process.pid % 100000}`
const NS = [`dadm-mdns-a-${TAG}`, `dadm-mdns-b-${TAG}`]
const VETH = [`dma${TAG}`, `dmb${TAG}`]
const ADDR = ['10.213.0.1', '10.213.0.2']

async function ip (...args: string[]): Promise<string> {
  return (await run('ip', args, { timeout: 10_000 })).stdout
}

/** `node peers --json` run inside namespace `ns` (the API listens on that namespace's loopback). */
async function peersIn (ns: string, dir: string): Promise<any[]> {
  const { stdout } = await run('ip', ['netns', 'exec', ns, process.execPath, BIN, 'node', 'peers', '--dir', dir, '--json'], {
    timeout: 30_000,
    env: { ...process.env, ...ENV }
  })
  return JSON.parse(stdout)
}

describe('mDNS discovery inside network namespaces (QUIC)', function () {
  let mesh: TestMesh | undefined
  const procs: NodeProcess[] = []
  let created = false

  before(async function () {
    // The written rule for skipping: namespaces need root, and a working `ip netns`.
    if (process.getuid?.() !== 0) {
      // eslint-disable-next-line no-console -- a skip says why
      console.log('      skipped: creating network namespaces needs root (CAP_SYS_ADMIN); this process is not root')
      this.skip()
    }
    try {
      await ip('netns', 'add', NS[0])
      created = true
      await ip('netns', 'add', NS[1])
      await ip('link', 'add', VETH[0], 'netns', NS[0], 'type', 'veth', 'peer', 'name', VETH[1], 'netns', NS[1])
      for (let i = 0; i < 2; i++) {
        await ip('-n', NS[i], 'addr', 'add', `${ADDR[i]}/24`, 'dev', VETH[i])
        await ip('-n', NS[i], 'link', 'set', 'lo', 'up')
        await ip('-n', NS[i], 'link', 'set', VETH[i], 'up')
        // mDNS sends to 224.0.0.251: route multicast out of the veth, the namespace's only link.
        await ip('-n', NS[i], 'route', 'add', '224.0.0.0/4', 'dev', VETH[i])
      }
    } catch (err) {
      // eslint-disable-next-line no-console -- a skip says why
      console.log(`      skipped: cannot create network namespaces here (${(err as Error).message.split('\n')[0]})`)
      this.skip()
    }
    mesh = await createTestMesh('mdns')
  })

  after(async () => {
    await Promise.all(procs.splice(0).map(async p => p.stop()))
    await mesh?.cleanup()
    if (created) {
      for (const ns of NS) { await ip('netns', 'del', ns).catch(() => {}) }
    }
  })

  it('two nodes that know no address find each other by mDNS and authenticate', async () => {
    if (mesh == null) { throw new Error('no test mesh') }
    // 1. Each namespace has only its loopback and its veth end: no real interface to multicast on.
    for (let i = 0; i < 2; i++) {
      const links = (await ip('-n', NS[i], '-o', 'link', 'show')).trim().split('\n').map(l => l.split(':')[1].trim().split('@')[0])
      expect(links.sort()).to.deep.equal(['lo', VETH[i]].sort())
    }
    // 2. Enroll on the host (the CA listens on the host's loopback), then run each node in its namespace.
    const dirs = [await mesh.enroll('mdns-a'), await mesh.enroll('mdns-b')]
    for (let i = 0; i < 2; i++) {
      procs.push(await spawnNode(['node', 'start', '--dir', dirs[i], '--listen', `/ip4/${ADDR[i]}/udp/0/quic-v1`, '--no-tcp'], { wrap: ['ip', 'netns', 'exec', NS[i]] }))
      expect(procs[i].addrs[0]).to.include(`/ip4/${ADDR[i]}/udp/`)
    }
    // 3. No bootstrap address was given: only mDNS can have told them about each other.
    const t0 = Date.now()
    await eventuallyAsync(async () => {
      const [a, b] = await Promise.all([peersIn(NS[0], dirs[0]), peersIn(NS[1], dirs[1])])
      return a.some(r => r.node_id === 'mdns-b' && r.status === 'authenticated') && b.some(r => r.node_id === 'mdns-a' && r.status === 'authenticated')
    }, 30_000, 500)
    // eslint-disable-next-line no-console -- the discovery time is this test's figure
    console.log(`      found and authenticated each other by mDNS in ${Date.now() - t0} ms`)
    const rows = await peersIn(NS[0], dirs[0])
    expect(rows).to.have.length(1)
    expect(rows[0]).to.include({ node_id: 'mdns-b', status: 'authenticated', transport: 'quic' })
  })
})
