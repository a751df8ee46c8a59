import { expect } from 'aegir/chai'
import { MemoryLevel } from 'memory-level'
import { HeldOutbox } from '../../../src/daemon/runtime/held-outbox.ts'
import { wrapStore } from '../../../src/store/mesh-store.ts'
import type { HeldSenders } from '../../../src/daemon/runtime/held-outbox.ts'
import type { ReservedId } from '../../../src/dtn/bundle-agent.ts'
import type { MeshStore } from '../../../src/store/mesh-store.ts'

/** The hold of a node without a valid certificate, on its own (memory LevelDB): order, limits, restarts, expiry. */
describe('held outbox', () => {
  let store: MeshStore
  let now: number
  const clock = (): number => now
  const reserved = (seq: number, expiresAt: number): ReservedId => ({ createdAt: 1_000, sequence: seq, bundleId: `n:1000:${seq}`, expiresAt })
  const recorder = (fail?: (what: string) => boolean): HeldSenders & { sent: string[] } => {
    const sent: string[] = []
    return {
      sent,
      bundle: async (req, r) => { if (fail?.(r.bundleId) === true) { throw new Error('down') } sent.push(r.bundleId) },
      anomaly: async (p, o) => { if (fail?.(p.value) === true) { throw new Error('down') } sent.push(`${p.value}/${o.ttl}/${o.idSuffix}${o.timestamp != null ? `@${o.timestamp}` : ''}`) }
    }
  }

  beforeEach(() => {
    now = 10_000
    store = wrapStore(new MemoryLevel({ keyEncoding: 'utf8', valueEncoding: 'json' }) as any)
  })

  it('sends in arrival order and survives a reopen (a restart)', async () => {
    const h = await HeldOutbox.open(store, clock)
    await h.holdBundle({ destination: 'node-b', ttlSec: 60, payload: new Uint8Array([1, 2, 3]) }, reserved(0, 70_000))
    const held = await h.holdAnomaly({ type: 'sha256', value: 'x' }, 30)
    await h.holdBundle({ destination: 'broadcast', ttlSec: 60, payload: new Uint8Array([4]) }, reserved(1, 70_000))
    const again = await HeldOutbox.open(store, clock)
    expect(again.size).to.equal(3)
    now += 5_000
    const s = recorder()
    expect(await again.release(s)).to.deep.equal({ sent: 3, expired: 0, left: 0 })
    // The signature keeps its expiry: stamped with the time of holding, 30 s from then.
    expect(s.sent).to.deep.equal(['n:1000:0', `x/30/${held.idSuffix}@10000`, 'n:1000:1'])
    expect(again.size).to.equal(0)
    expect((await HeldOutbox.open(store, clock)).size).to.equal(0)
  })

  it('a release repeated after a crash publishes the very same content (timestamp, lifetime, id), not a second version', async () => {
    const h = await HeldOutbox.open(store, clock)
    await h.holdAnomaly({ type: 'sha256', value: 'x' }, 30)
    // 1. The send goes out, then the process dies before the item is deleted (the throw stands in for it).
    const sent: string[] = []
    const crashAfterSend: HeldSenders = {
      bundle: async () => {},
      anomaly: async (p, o) => { sent.push(`${o.ttl}/${o.idSuffix}/${o.timestamp}`); throw new Error('crash') }
    }
    now += 2_000
    expect(await h.release(crashAfterSend)).to.deep.equal({ sent: 0, expired: 0, left: 1 })
    // 2. The next start releases it again, later: identical fields, so gossip sees one message.
    now += 3_000
    const again = recorder()
    expect(await (await HeldOutbox.open(store, clock)).release(again)).to.deep.equal({ sent: 1, expired: 0, left: 0 })
    expect(again.sent[0]).to.equal(`x/${sent[0].split('/')[0]}/${sent[0].split('/')[1]}@${sent[0].split('/')[2]}`)
    expect(sent[0].split('/')[2]).to.equal('10000')
  })

  it('refuses beyond its limits with HOLD_FULL, holding nothing more', async () => {
    const h = await HeldOutbox.open(store, clock, { maxItems: 2, maxBytes: 1_000 })
    await h.holdAnomaly({ type: 'sha256', value: 'a' }, 30)
    await expect(h.holdBundle({ destination: 'node-b', ttlSec: 60, payload: new Uint8Array(2_000) }, reserved(0, 70_000))).to.eventually.be.rejected.with.property('code', 'HOLD_FULL')
    await h.holdAnomaly({ type: 'sha256', value: 'b' }, 30)
    const err = await h.holdAnomaly({ type: 'sha256', value: 'c' }, 30).then(() => undefined, (e: any) => e)
    expect(err).to.include({ name: 'NodeRuntimeError', code: 'HOLD_FULL' })
    expect(h.size).to.equal(2)
    expect((await HeldOutbox.open(store, clock)).size).to.equal(2)
  })

  it('drops what expired while held, and keeps what a failed send left for the next release', async () => {
    const h = await HeldOutbox.open(store, clock)
    await h.holdBundle({ destination: 'node-b', ttlSec: 5, payload: new Uint8Array([1]) }, reserved(0, 15_000))
    await h.holdAnomaly({ type: 'sha256', value: 'ok' }, 600)
    await h.holdAnomaly({ type: 'sha256', value: 'fails' }, 600)
    await h.holdAnomaly({ type: 'sha256', value: 'later' }, 600)
    now = 20_000
    const first = recorder(v => v === 'fails')
    expect(await h.release(first)).to.deep.equal({ sent: 1, expired: 1, left: 2 })
    expect(h.size).to.equal(2)
    const second = recorder()
    expect(await h.release(second)).to.deep.equal({ sent: 2, expired: 0, left: 0 })
    expect(second.sent.map(x => x.split('/')[0])).to.deep.equal(['fails', 'later'])
  })
})
