import { expect } from 'aegir/chai'
import { resolveOptions } from '../../src/node/config.ts'
import { MemberKeeper } from '../../src/node/member-keeper.ts'
import { redialDelay } from '../../src/node/redial-backoff.ts'
import type { KeepAliveOptions, KeeperHost, KeeperTimers } from '../../src/node/member-keeper.ts'
import type { RedialPolicy } from '../../src/node/redial-backoff.ts'

/**
 * MemberKeeper and its back-off on a fake clock: the timers below run only when the test moves
 * the clock, so each redial's delay is read exactly. The loopback suite
 * (test/node/keep-alive-redial.spec.ts) runs the same class over real QUIC.
 */

const policy: RedialPolicy = { initialMs: 1_000, factor: 2, maxMs: 5_000 }

const options: KeepAliveOptions = {
  enabled: true,
  targetMembers: 0,
  maxMembers: 4,
  memberForMs: 60_000,
  redial: policy,
  attemptTimeoutMs: 8_000,
  checkMs: 5_000,
  dhtQueryMs: 60_000,
  rendezvousMs: 10_000,
  maxRefillDials: 2
}

/** A fake clock with one-shot timers that fire when `advance` passes their time. */
class FakeClock implements KeeperTimers {
  t = 0
  private seq = 0
  readonly timers = new Map<number, { at: number, fn(): void }>()

  set (fn: () => void, ms: number): unknown {
    const id = ++this.seq
    this.timers.set(id, { at: this.t + ms, fn })
    return id
  }

  clear (handle: unknown): void {
    this.timers.delete(handle as number)
  }

  /** Delays of the pending timers, from now. */
  pending (): number[] {
    return [...this.timers.values()].map(x => x.at - this.t).sort((a, b) => a - b)
  }

  /** Moves the clock to the next due timer and runs it (then lets its promise chain settle). */
  async next (): Promise<number> {
    const [id, timer] = [...this.timers].sort((a, b) => a[1].at - b[1].at)[0]
    this.timers.delete(id)
    const waited = timer.at - this.t
    this.t = timer.at
    timer.fn()
    for (let i = 0; i < 10; i++) { await Promise.resolve() }
    return waited
  }
}

interface FakeHostState {
  connected: Set<string>
  authenticated: number
  blocked: Map<string, number>
  dials: Array<{ peerId: string, at: number }>
  tags: Map<string, Set<string>>
  candidates: string[]
  dht: string[]
  dhtQueries: number
  /** Members the rendezvous names, and how often it was asked. */
  met: string[]
  rendezvousQueries: number
  /** Clock times of provides, and how many servers each one reports storing the record. */
  provides: number[]
  stored: number
  /** Whether a dial of the peer succeeds (connects). */
  reachable: Set<string>
}

function fakeHost (clock: FakeClock): { host: KeeperHost, state: FakeHostState } {
  const state: FakeHostState = { connected: new Set(), authenticated: 0, blocked: new Map(), dials: [], tags: new Map(), candidates: [], dht: [], dhtQueries: 0, met: [], rendezvousQueries: 0, provides: [], stored: 0, reachable: new Set() }
  const host: KeeperHost = {
    isStarted: () => true,
    isConnected: (p) => state.connected.has(p),
    authenticatedCount: () => state.authenticated,
    blockedUntil: (p) => { const u = state.blocked.get(p); return u != null && clock.t < u ? u : undefined },
    dial: async (p) => {
      state.dials.push({ peerId: p, at: clock.t })
      if (!state.reachable.has(p)) { throw new Error('unreachable') }
      state.connected.add(p)
    },
    tag: async (p, kind) => { state.tags.set(p, new Set([...(state.tags.get(p) ?? []), kind])) },
    untag: async (p, kind) => { state.tags.get(p)?.delete(kind) },
    candidates: async (limit) => state.candidates.slice(0, limit),
    closestPeers: async () => { state.dhtQueries++; return state.dht },
    rendezvous: async () => { state.rendezvousQueries++; return state.met },
    provide: async () => { state.provides.push(clock.t); return state.stored },
    log: () => {}
  }
  return { host, state }
}

const BOOT = '12D3KooWBootstrapPeer'

describe('member keeper (redial back-off, fake clock)', () => {
  let clock: FakeClock
  let host: KeeperHost
  let state: FakeHostState
  let keeper: MemberKeeper | undefined

  beforeEach(() => {
    clock = new FakeClock()
    ;({ host, state } = fakeHost(clock))
  })

  afterEach(() => { keeper?.stop() })

  function start (opts: Partial<KeepAliveOptions> = {}, random: () => number = () => 0.5, bootstrap: string[] = []): MemberKeeper {
    keeper = new MemberKeeper({ host, options: { ...options, ...opts }, bootstrap, now: () => clock.t, random, timers: clock })
    keeper.start()
    return keeper
  }

  it('redial delays grow by the factor, never pass the cap, and carry equal jitter in [step/2, step]', () => {
    const steps = [1_000, 2_000, 4_000, 5_000, 5_000, 5_000]
    for (let n = 0; n < steps.length; n++) {
      expect(redialDelay(n, policy, () => 0)).to.equal(steps[n] / 2)
      expect(redialDelay(n, policy, () => 0.999999)).to.equal(steps[n])
    }
    // Far past any cap, and a random source out of range, still give a bounded delay.
    expect(redialDelay(10_000, policy, () => 7)).to.equal(5_000)
    expect(redialDelay(3, policy, () => -1)).to.equal(2_500)
  })

  it('a dropped member is redialled with capped, jittered back-off until it answers, then the back-off resets', async () => {
    const randoms = [0, 1, 0.5, 0.25, 0.75, 0, 1, 0.5]
    let i = 0
    start({}, () => randoms[i++ % randoms.length] * 0.999999)
    keeper?.authenticated('m1')
    expect(state.tags.get('m1')?.has('member')).to.equal(true)
    keeper?.disconnected('m1')
    const waits: number[] = []
    for (let n = 0; n < 7; n++) {
      expect(clock.pending().length).to.be.greaterThan(0)
      waits.push(await clock.next())
    }
    // Only the redial timers ran (the target check is every 5 s; skip its firings).
    const redials = state.dials.filter(d => d.peerId === 'm1')
    expect(redials.length).to.be.greaterThan(3)
    const gaps = redials.map((d, k) => d.at - (k === 0 ? 0 : redials[k - 1].at))
    for (const [k, gap] of gaps.entries()) {
      const step = Math.min(5_000, 1_000 * 2 ** k)
      expect(gap, `gap ${k}`).to.be.at.least(Math.floor(step / 2)).and.at.most(step)
    }
    expect(Math.max(...gaps)).to.be.at.most(policy.maxMs)
    // Jitter: equal steps (the capped ones) got different delays.
    expect(new Set(gaps.slice(3)).size).to.be.greaterThan(1)

    // It answers: connected and authenticated, nothing more is scheduled for it, and the next drop starts at step 0.
    state.reachable.add('m1')
    while (keeper?.pending().includes('m1') === true) { await clock.next() }
    keeper?.authenticated('m1')
    state.connected.delete('m1')
    keeper?.disconnected('m1')
    expect(keeper?.attemptOf('m1')).to.equal(0)
    expect(waits.length).to.equal(7)
  })

  it('when one redialled peer is back, the others are redialled at once, not after their back-off step', async () => {
    start({}, () => 0.5)
    for (const m of ['m1', 'm2', 'm3']) {
      keeper?.authenticated(m)
      keeper?.disconnected(m)
    }
    // Several failed rounds: the steps have grown to the cap.
    while (clock.t < 20_000) { await clock.next() }
    expect(keeper?.attemptOf('m2')).to.be.greaterThan(2)
    const before = state.dials.length
    // m1 comes back (it dialled us, or our redial reached it).
    state.connected.add('m1')
    keeper?.authenticated('m1')
    // m2 and m3 are dialled within the comeback spread (500 ms), long before a 2 s step.
    const pending = clock.pending()
    expect(pending.filter(ms => ms <= 500).length).to.be.at.least(2)
    while (state.dials.length < before + 2) { await clock.next() }
    expect(state.dials.slice(before).map(d => d.peerId).sort()).to.deep.equal(['m2', 'm3'])
    expect(Math.max(...state.dials.slice(before).map(d => d.at)) - clock.t).to.be.at.most(0)
  })

  it('an attempt that opened a connection is not cut off by the attempt deadline while auth runs', async () => {
    start({ attemptTimeoutMs: 8_000 })
    let release: (() => void) | undefined
    let aborted = false
    host.dial = async (p, signal) => {
      state.dials.push({ peerId: p, at: clock.t })
      signal.addEventListener('abort', () => { aborted = true })
      // The connection opens at once; auth takes its time.
      state.connected.add(p)
      await new Promise<void>(resolve => { release = resolve })
    }
    keeper?.authenticated('m1')
    state.connected.delete('m1')
    keeper?.disconnected('m1')
    while (state.dials.length === 0) { await clock.next() }
    const t0 = clock.t
    while (clock.t < t0 + 8_000) { await clock.next() }
    expect(aborted, 'aborted at the first deadline').to.equal(false)
    while (clock.t < t0 + 16_000) { await clock.next() }
    expect(aborted, 'aborted at the second deadline').to.equal(true)
    release?.()
  })

  it('bootstrap peers are tagged and dialled from start, and redialled for as long as the node runs', async () => {
    start({ memberForMs: 1 }, () => 0.5, [`/ip4/203.0.113.7/udp/4001/quic-v1/p2p/${BOOT}`])
    expect(state.tags.get(BOOT)?.has('bootstrap')).to.equal(true)
    for (let n = 0; n < 30; n++) { await clock.next() }
    const dials = state.dials.filter(d => d.peerId === BOOT)
    // An hour and more of back-off does not stop it; the cap keeps attempts coming.
    expect(dials.length).to.be.greaterThan(10)
    expect(keeper?.pending()).to.include(BOOT)
  })

  it('a member gone longer than memberForMs is no longer redialled and loses its keep-alive tag', async () => {
    start({ memberForMs: 10_000 })
    keeper?.authenticated('m2')
    keeper?.disconnected('m2')
    while (clock.t < 20_000) { await clock.next() }
    const before = state.dials.length
    for (let n = 0; n < 5; n++) { await clock.next() }
    expect(state.dials.length).to.equal(before)
    expect(keeper?.pending()).to.not.include('m2')
    expect(state.tags.get('m2')?.has('member')).to.equal(false)
  })

  it('a peer backed off after a failed auth is not dialled before its block ends; a revoked one never again', async () => {
    start()
    keeper?.authenticated('m3')
    keeper?.authenticated('m4')
    state.blocked.set('m3', 30_000)
    state.blocked.set('m4', Infinity)
    keeper?.disconnected('m3')
    keeper?.disconnected('m4')
    expect(keeper?.pending()).to.deep.equal(['m3'])
    while (state.dials.length === 0) { await clock.next() }
    expect(state.dials[0]).to.deep.equal({ peerId: 'm3', at: 30_000 })
    expect(state.dials.some(d => d.peerId === 'm4')).to.equal(false)
    expect(state.tags.get('m4')?.has('member')).to.equal(false)
  })

  it('forget (a revocation) cancels a pending redial', async () => {
    start()
    keeper?.authenticated('m5')
    keeper?.disconnected('m5')
    keeper?.forget('m5')
    for (let n = 0; n < 5; n++) { await clock.next() }
    expect(state.dials).to.deep.equal([])
  })

  it('stop cancels every timer: nothing fires afterwards', () => {
    start({}, () => 0.5, [`/ip4/203.0.113.7/udp/4001/quic-v1/p2p/${BOOT}`])
    keeper?.authenticated('m6')
    keeper?.disconnected('m6')
    expect(clock.timers.size).to.be.greaterThan(1)
    keeper?.stop()
    expect(clock.timers.size).to.equal(0)
  })

  it('keeps only maxMembers members for redial, the least recently seen dropped first', () => {
    start({ maxMembers: 2 })
    keeper?.authenticated('a')
    clock.t = 1
    keeper?.authenticated('b')
    clock.t = 2
    keeper?.authenticated('c')
    expect(keeper?.stats().members).to.equal(2)
    expect(state.tags.get('a')?.has('member')).to.equal(false)
    keeper?.disconnected('a')
    expect(keeper?.pending()).to.deep.equal([])
  })

  it('below the target it dials known candidates, then asks the DHT, never more than the deficit', async () => {
    start({ targetMembers: 3, maxRefillDials: 4 })
    state.authenticated = 1
    state.candidates = ['k1']
    state.dht = ['d1', 'd2', 'd3']
    await clock.next()
    expect(state.dials.map(d => d.peerId)).to.deep.equal(['k1', 'd1'])
    expect(state.dhtQueries).to.equal(1)
    // The DHT is asked at most once per dhtQueryMs, however short the member count stays.
    for (let n = 0; n < 5; n++) { await clock.next() }
    expect(state.dhtQueries).to.equal(1)
  })

  it('members the DHT rendezvous names are dialled before a closest-peers query, asked at most once per rendezvousMs', async () => {
    start({ targetMembers: 4, maxRefillDials: 4, checkMs: 5_000, rendezvousMs: 10_000 })
    state.authenticated = 1
    state.candidates = ['k1']
    state.met = ['m1', 'm2']
    state.dht = ['d1', 'd2']
    await clock.next()
    expect(state.dials.map(d => d.peerId)).to.deep.equal(['k1', 'm1', 'm2'])
    expect(state.rendezvousQueries).to.equal(1)
    // Deficit filled by the rendezvous: no closest-peers walk was needed.
    expect(state.dhtQueries).to.equal(0)
    await clock.next()
    expect(state.rendezvousQueries).to.equal(1)
    await clock.next()
    expect(state.rendezvousQueries).to.equal(2)
  })

  it('provides the rendezvous key every rendezvousMs until a server stores it, then every dhtQueryMs', async () => {
    start({ targetMembers: 0, checkMs: 5_000, rendezvousMs: 10_000, dhtQueryMs: 60_000 })
    for (let n = 0; n < 4; n++) { await clock.next() }
    // Nobody stored it: retried at most every rendezvousMs.
    expect(state.provides).to.deep.equal([5_000, 15_000])
    state.stored = 1
    for (let n = 0; n < 4; n++) { await clock.next() }
    expect(state.provides).to.deep.equal([5_000, 15_000, 25_000])
    for (let n = 0; n < 12; n++) { await clock.next() }
    expect(state.provides).to.deep.equal([5_000, 15_000, 25_000, 85_000])
  })

  it('at the target it dials nobody', async () => {
    start({ targetMembers: 2 })
    state.authenticated = 2
    state.candidates = ['k1', 'k2']
    await clock.next()
    expect(state.dials).to.deep.equal([])
    expect(state.dhtQueries).to.equal(0)
  })
})

describe('keep-alive, announce and DHT mode options (resolveOptions)', () => {
  it('defaults: keep-alive on, target 8, redial 1 s to 2 s, DHT mode auto, nothing announced', () => {
    const o = resolveOptions({})
    expect(o.keepAlive).to.deep.include({ enabled: true, targetMembers: 8, maxMembers: 32 })
    expect(o.keepAlive.redial).to.deep.equal({ initialMs: 1_000, factor: 2, maxMs: 2_000 })
    expect(o.dht.mode).to.equal('auto')
    expect(o.announce).to.deep.equal([])
  })

  it('refuses what cannot work, CONFIG_INVALID naming the key', () => {
    const bad: Array<[Parameters<typeof resolveOptions>[0], RegExp]> = [
      [{ keepAlive: { targetMembers: -1 } }, /keepAlive.targetMembers/],
      [{ keepAlive: { maxMembers: 1.5 } }, /keepAlive.maxMembers/],
      [{ keepAlive: { redial: { maxMs: 0 } } }, /keepAlive.redial.maxMs/],
      [{ keepAlive: { redial: { factor: 0.5 } } }, /keepAlive.redial.factor/],
      [{ keepAlive: { attemptTimeoutMs: Number.NaN } }, /keepAlive.attemptTimeoutMs/],
      [{ dht: { mode: 'sometimes' as any } }, /dht.mode/],
      [{ announce: ['/ip4/1.2.3/udp/1/quic-v1'] }, /announce address/],
      [{ announce: ['/ip4/1.2.3.4/udp/1/quic-v1/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN'] }, /must not name a peer/]
    ]
    for (const [config, message] of bad) {
      expect(() => resolveOptions(config), JSON.stringify(config)).to.throw(message).with.property('code', 'CONFIG_INVALID')
    }
  })
})
