import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { eventuallyAsync } from '../daemon/runtime/harness.ts'
import { dtnSuite, listOf, sendBundle, sha256, untilListing } from './dtn-harness.ts'
import type { DtnNode } from './dtn-harness.ts'
import type { BundleListing } from '../../src/daemon/runtime/dtn-listing.ts'

/**
 * Crash safety of the DTN store: every kill is a real `kill -9` (SIGKILL by pid) of a
 * `dadm-mesh node start` child process; the node is then started again on the same NODEDIR.
 * In every case the bundle is delivered, once: the receiver's inbox holds it once and the
 * `bundle delivered` events of all its incarnations name it once.
 */
describe('e2e / dtn: crash safety with kill -9', function () {
  const suite = dtnSuite('dtn-crash')
  const node = suite.node

  /** The receiver got `bundleId` once: in its inbox, and in the delivery events of every incarnation. */
  async function deliveredOnce (c: DtnNode, bundleId: string, ms: number): Promise<BundleListing> {
    const l = await untilListing(c.dir, x => x.inbox.length > 0, ms)
    expect(l.inbox.map(r => r.bundle_id)).to.deep.equal([bundleId])
    expect(c.deliveries()).to.deep.equal([bundleId])
    return l
  }

  it('the sender is killed right after POST /v1/bundles returned; restarted, it still delivers', async () => {
    const a = await node('ka1')
    const c = await node('kc1')
    await a.start()
    // 1. the API answers only after the sync write: the bundle_id in hand is on disk
    const sent = await sendBundle(a.dir, 'kc1', 600, { data: 'survives kill -9' })
    await a.kill9()
    // 2. the same NODEDIR, a new process (and a new port)
    await a.start()
    expect((await listOf(a.dir)).held.map(h => h.bundle_id)).to.deep.equal([sent.bundle_id])
    // 3. C appears; it gets the bundle, once
    await c.start([a.addr])
    await deliveredOnce(c, sent.bundle_id, 30_000)
    await untilListing(a.dir, l => l.held.length === 0, 15_000)
  })

  it('the relay is killed after it acknowledged custody and before it forwarded; restarted, it still delivers', async () => {
    const a = await node('ka2')
    const b = await node('kb2', ['--relay'])
    const c = await node('kc2')
    await b.start()
    await a.start([b.addr])
    // 1. A sends to C (offline); B acknowledges custody of a spray share: A records B as a
    // holder only after B's ACK, which B sends only after its own sync write
    const sent = await sendBundle(a.dir, 'kc2', 600, { data: 'held by the relay' })
    await untilListing(a.dir, l => l.held.some(h => h.sent_to.includes('kb2')), 20_000)
    // 2. A leaves for good: only B's copy can reach C. B holds it (C has never run) and dies
    await a.stop()
    expect((await listOf(b.dir)).held.map(h => h.bundle_id)).to.deep.equal([sent.bundle_id])
    await b.kill9()
    // 3. B restarts, C starts knowing only B
    await b.start()
    await c.start([b.addr])
    const l = await deliveredOnce(c, sent.bundle_id, 30_000)
    expect(l.inbox[0].received_from).to.equal('kb2')
    await untilListing(b.dir, x => x.held.length === 0, 15_000)
  })

  it('the receiver is killed mid-reassembly; restarted, the reassembly completes; no loss, no duplicate', async () => {
    const a = await node('ka3')
    const c = await node('kc3')
    await a.start()
    await c.start([a.addr])
    // 1. a 16 MiB payload: about 270 fragments of under 64 KiB each
    const payload = randomBytes(16 * 1024 * 1024)
    const file = join(suite.mesh().base, 'sixteen-mib.bin')
    await writeFile(file, payload)
    const sent = await sendBundle(a.dir, 'kc3', 600, { file })
    // 2. kill C as soon as some fragments, not all, are on its disk
    let before: BundleListing['reassembling'][number] | undefined
    await eventuallyAsync(async () => {
      const l = await listOf(c.dir)
      before = l.reassembling.find(r => r.bundle_id === sent.bundle_id)
      if (l.inbox.length > 0) { throw new Error('the whole bundle arrived before the kill: the test could not kill mid-reassembly') }
      return before != null && before.fragments >= 5
    }, 60_000, 20)
    await c.kill9()
    expect(before?.bytes_held).to.be.lessThan(payload.length)
    // 3. C restarts: the fragments it held are still there, A sends what it has no ACK for
    await c.start([a.addr])
    const l = await deliveredOnce(c, sent.bundle_id, 90_000)
    expect(l.inbox[0]).to.include({ size: payload.length, sha256: sha256(payload) })
    expect(l.reassembling).to.deep.equal([])
    await untilListing(a.dir, x => x.held.length === 0, 30_000)
    // a while later, still once
    await new Promise(resolve => setTimeout(resolve, 2000))
    expect((await listOf(c.dir)).inbox).to.have.lengthOf(1)
    expect(c.deliveries()).to.deep.equal([sent.bundle_id])
  })
})
