import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { parseLifetimeSec } from '../../src/cli/commands/node-run.ts'
import { dtnConfigOf } from '../../src/daemon/runtime/dtn.ts'
import { BUNDLE_STORE_DEFAULTS } from '../../src/dtn/constants.ts'
import { runCli } from '../daemon/runtime/harness.ts'
import { agentFor, Clock, craft, NOW, setupPki, tempStore } from './fixtures.ts'
import type { Pki, TempStore } from './fixtures.ts'

/**
 * Every received bundle's lifetime is clamped, whatever it claims (the wire allows 30 days): to
 * its signer's certificate notAfter, and to the node's longest lifetime counted from creation
 * (`--bundle-max-lifetime`, node.json `dtn.max_lifetime_sec`, 7 days by default). The stored
 * expiry is the clamped one, for bundles held to forward and for those delivered here alike.
 */
describe('dtn / lifetime clamp: signer notAfter and the node\'s longest lifetime', function () {
  let pki: Pki
  let ts: TempStore
  let clock: Clock
  const DAY = 24 * 3600 * 1000

  before(async () => { pki = await setupPki() })
  after(async () => { await pki.close() })
  beforeEach(async () => {
    ts = await tempStore()
    clock = new Clock()
  })
  afterEach(async () => { await ts.destroy() })

  it('a 30-day bundle is stored until its signer\'s certificate expires, not 30 days (held to forward and delivered)', async () => {
    const b = await agentFor(pki.b, ts.store, pki.tca, clock)
    const relayed = await b.receive(await craft({ signer: pki.a, destSsp: '//node-far/', sequence: 1, ttlSec: 30 * 24 * 3600 }), { from: 'node-a' })
    const held = await b.store.getOutbound(relayed.id)
    // node-a's certificate: issued at NOW - 1 h for 24 h (test/node/fixtures.ts)
    const notAfter = held?.meta.signer.notAfter ?? 0
    expect(notAfter).to.be.lessThan(NOW + DAY)
    expect(held?.meta.expiresAt).to.equal(notAfter)
    const delivered = await b.receive(await craft({ signer: pki.a, destSsp: '//node-b/', sequence: 2, ttlSec: 30 * 24 * 3600 }), { from: 'node-a' })
    expect(delivered.delivered?.expiresAt).to.equal(notAfter)
    expect((await b.store.getDelivered(delivered.id, NOW))?.meta.expiresAt).to.equal(notAfter)
    // at notAfter both are swept; before it they are held
    clock.t = notAfter - 1
    await b.sweep()
    expect(b.store.usage.entries).to.equal(2)
    clock.t = notAfter
    await b.sweep()
    expect(b.store.usage.entries).to.equal(0)
    await b.store.close()
  })

  it('the node\'s longest lifetime caps it from creation; past the cap the bundle is EXPIRED and nothing is stored', async () => {
    // a one-hour cap, below the signer's 23 hours left
    const b = await agentFor(pki.b, ts.store, pki.tca, clock, { maxLifetimeSec: 3600 })
    const r = await b.receive(await craft({ signer: pki.a, destSsp: '//node-far/', sequence: 1, createdAt: NOW - 600_000, ttlSec: 30 * 24 * 3600 }), { from: 'node-a' })
    expect((await b.store.getOutbound(r.id))?.meta.expiresAt).to.equal(NOW - 600_000 + 3600_000)
    const d = await b.receive(await craft({ signer: pki.a, destSsp: '//node-b/', sequence: 2, createdAt: NOW - 600_000, ttlSec: 30 * 24 * 3600 }), { from: 'node-a' })
    expect((await b.store.getDelivered(d.id, NOW))?.meta.expiresAt).to.equal(NOW - 600_000 + 3600_000)
    // created two hours ago with 30 days claimed: past this node's cap, refused, nothing kept
    const old = await craft({ signer: pki.a, destSsp: '//node-far/', sequence: 3, createdAt: NOW - 2 * 3600_000, ttlSec: 30 * 24 * 3600 })
    const before = b.store.usage
    const err = await b.receive(old, { from: 'node-a' }).then(() => undefined, (e: unknown) => e)
    expect(err).to.include({ name: 'BundleError', code: 'EXPIRED' })
    expect(b.store.usage).to.deep.equal(before)
    expect(await b.store.hasSeen({ source: 'node-a', createdAt: NOW - 2 * 3600_000, sequence: 3 })).to.equal(false)
    // once the cap passes, the swept bundle is refused as EXPIRED when offered again (no second life)
    clock.t = NOW - 600_000 + 3600_000
    await b.sweep()
    expect(b.store.usage.entries).to.equal(0)
    const replay = await b.receive(await craft({ signer: pki.a, destSsp: '//node-far/', sequence: 1, createdAt: NOW - 600_000, ttlSec: 30 * 24 * 3600 }), { from: 'node-a' }).then(() => undefined, (e: unknown) => e)
    expect(replay).to.include({ code: 'EXPIRED' })
    expect(b.store.usage.entries).to.equal(0)
    await b.store.close()
  })

  it('the default cap is 7 days; `--bundle-max-lifetime` and node.json set it, bad values exit 2 naming the flag', async () => {
    expect(BUNDLE_STORE_DEFAULTS.maxLifetimeSec).to.equal(7 * 24 * 3600)
    expect(parseLifetimeSec('7d')).to.equal(7 * 86_400)
    expect(parseLifetimeSec('36h')).to.equal(36 * 3600)
    expect(parseLifetimeSec('90')).to.equal(90)
    for (const bad of ['0', '31d', '7w', '-1d', '']) { expect(() => parseLifetimeSec(bad), bad).to.throw('--bundle-max-lifetime') }
    const r = await runCli(['node', 'start', '--dir', '/nonexistent-node-dir', '--bundle-max-lifetime', '7weeks'])
    expect(r.code).to.equal(2)
    expect(r.stderr).to.include('--bundle-max-lifetime')
    expect(r.stderr).to.not.include('    at ')
    const dir = await mkdtemp(join(tmpdir(), 'dadm-lifetime-'))
    try {
      await writeFile(join(dir, 'node.json'), JSON.stringify({ dtn: { max_lifetime_sec: 86_400 } }))
      expect(await dtnConfigOf(dir)).to.deep.equal({ maxLifetimeSec: 86_400 })
      await writeFile(join(dir, 'node.json'), JSON.stringify({ dtn: { max_lifetime_sec: 90 * 86_400 } }))
      expect(await dtnConfigOf(dir)).to.deep.equal({})
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
