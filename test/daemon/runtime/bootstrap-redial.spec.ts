import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { createTestMesh, eventuallyAsync, peersOf, spawnNode } from './harness.ts'
import type { NodeProcess, TestMesh } from './harness.ts'

/**
 * The bootstrap-restart case on one loopback, with real processes: `bootstrap-server` is killed
 * (SIGKILL: no goodbye on the wire) and started again; it comes back on the same QUIC port
 * because node.json recorded it, and the member finds it again by itself. The restarted server
 * knows nothing of the member, so the link it ends up with was dialled by the member's keeper.
 */
describe('bootstrap server killed and restarted (real processes, QUIC on loopback)', function () {
  this.timeout(180_000)
  let mesh: TestMesh
  const procs: NodeProcess[] = []

  before(async () => { mesh = await createTestMesh('boot-redial') })
  after(async () => {
    for (const p of procs.splice(0)) { await p.stop() }
    await mesh.cleanup()
  })

  it('a member re-authenticates with a bootstrap server restarted on its recorded address, with no operator', async () => {
    const bootDir = await mesh.enroll('boot-1')
    const memberDir = await mesh.enroll('member-1')
    // Loopback only, port picked at the first start and recorded there (what a plain `--listen`-less start does on 0.0.0.0).
    const file = JSON.parse(await readFile(join(bootDir, 'node.json'), 'utf8'))
    await writeFile(join(bootDir, 'node.json'), JSON.stringify({ ...file, listen: ['/ip4/127.0.0.1/udp/0/quic-v1'] }))

    const boot1 = await spawnNode(['bootstrap-server', '--dir', bootDir, '--no-tcp', '--no-mdns', '--log-level', 'warn'])
    procs.push(boot1)
    const recorded: string[] = JSON.parse(await readFile(join(bootDir, 'node.json'), 'utf8')).listen
    expect(recorded).to.have.length(1)
    expect(recorded[0]).to.match(/^\/ip4\/127\.0\.0\.1\/udp\/[1-9]\d*\/quic-v1$/)
    const bootAddr = boot1.addrs.find(a => a.startsWith(recorded[0])) as string
    expect(bootAddr, `boot printed ${boot1.addrs.join(' ')}`).to.be.a('string')

    const member = await spawnNode(['node', 'start', '--dir', memberDir, '--listen', '/ip4/127.0.0.1/udp/0/quic-v1', '--no-tcp', '--no-mdns', '--bootstrap', bootAddr, '--log-level', 'warn'])
    procs.push(member)
    const bootAuthenticated = async (): Promise<boolean> => (await peersOf(memberDir)).some(r => r.node_id === 'boot-1' && r.status === 'authenticated')
    await eventuallyAsync(bootAuthenticated, 20_000)

    process.kill(boot1.pid, 'SIGKILL')
    await boot1.stop()
    procs.splice(procs.indexOf(boot1), 1)

    const boot2 = await spawnNode(['bootstrap-server', '--dir', bootDir, '--no-tcp', '--no-mdns', '--log-level', 'warn'])
    procs.push(boot2)
    // Same address: the recorded port was used again, not a new one.
    expect(boot2.addrs).to.include(bootAddr)
    expect(JSON.parse(await readFile(join(bootDir, 'node.json'), 'utf8')).listen).to.deep.equal(recorded)
    // QUIC notices the dead connection within its 10 s idle timeout; the redial cap is 5 s.
    await eventuallyAsync(async () => (await peersOf(bootDir)).some(r => r.node_id === 'member-1' && r.status === 'authenticated'), 40_000)
    await eventuallyAsync(bootAuthenticated, 10_000)
  })
})
