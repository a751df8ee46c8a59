import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { performance as perf } from 'node:perf_hooks'
import { Level } from 'level'
import { meshGossipAdapter } from '../adapters/mesh-gossip.ts'
import { plainGossipAdapter } from '../adapters/plain-gossip.ts'
import { rotationContext } from '../adapters/sim-rotation.ts'
import { simLogger } from '../core/quiet-logger.ts'
import { adjacency } from '../core/topology.ts'
import { ShardBridge } from '../link/bridge.ts'
import { Directory } from '../link/directory.ts'
import { LinkFabric } from '../link/fabric.ts'
import { LinkModel } from '../link/link-model.ts'
import { EventWriter, wallNow } from '../metrics/events.ts'
import { Scheduler } from './scheduler.ts'
import type { ShardInit } from './types.ts'
import type { RootDb } from '../../src/store/mesh-store.ts'
import type { DeliveryPath } from '../adapters/sim-dtn.ts'
import type { RotationContext } from '../adapters/sim-rotation.ts'
import type { SimAdapter, SimContext, SimNode } from '../adapters/types.ts'
import type { PlannedAction } from '../scenario/plan.ts'

/**
 * Dials in flight per shard while the topology forms. A link costs about 25 ms of CPU (two TLS
 * certificates made with @peculiar/x509, the auth exchange, identify); with 48 at once a 200-node
 * run queued dials past the 5 s auth deadline and the failures earned back-offs.
 */
const DIAL_CONCURRENCY = 16
/** One dial, all of it (TLS, yamux, mesh auth), ms. */
const DIAL_TIMEOUT_MS = 20_000

/** The QUIC listen address of node i: its own loopback address (no IP colocation), a fixed port. */
export function quicAddress (i: number, port: number): string {
  const n = i + 1
  return `/ip4/127.${1 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}/udp/${port}/quic-v1`
}

/**
 * One shard: its nodes, its share of the link model, its event log. The coordinator drives it
 * through setup -> bridge -> form -> warm -> traffic -> finish, in process or in a shard process.
 */
export class ShardRuntime {
  readonly init: ShardInit
  readonly directory: Directory
  readonly model: LinkModel
  readonly fabric: LinkFabric
  readonly events: EventWriter
  private readonly nodes = new Map<number, SimNode>()
  private readonly adapter: SimAdapter
  private readonly adj: number[][]
  private bridge?: ShardBridge
  private db?: Level<string, any>
  private scheduler?: Scheduler
  private readonly port: number
  /** Certificate rotation on a run clock (scenario option `rotation`). */
  private readonly rotation?: RotationContext
  deliveries = 0
  publishes = 0
  private readonly revokedPeers = new Set<number>()
  private readonly isolated = new Set<string>()
  private readonly pending: Array<Promise<unknown>> = []
  private loadTimer?: ReturnType<typeof setInterval>

  constructor (init: ShardInit) {
    this.init = init
    this.directory = new Directory(init.tag, init.peerIds, init.shardOf)
    this.model = new LinkModel(init.scenario.link)
    this.fabric = new LinkFabric(this.model, this.directory, init.shard, init.seed)
    this.events = new EventWriter(join(init.runDir, `events.${init.adapter}.shard${init.shard}.ndjson`))
    this.adapter = init.adapter === 'mesh' ? meshGossipAdapter() : plainGossipAdapter()
    this.adj = adjacency(init.plan.nodes, init.plan.edges)
    this.port = 41_000 + (init.adapter === 'plain' ? 1 : 0)
    this.rotation = rotationContext(init, this.directory, (ev) => { this.events.write(ev) })
  }

  get local (): SimNode[] {
    return [...this.nodes.values()]
  }

  /** Multiaddr (with /p2p/) of node i on this run's transport. */
  dialAddress (i: number): string {
    return this.init.transport === 'memory' ? this.directory.dialAddress(i) : `${quicAddress(i, this.port)}/p2p/${this.directory.peerIds[i]}`
  }

  /** Opens the shard's LevelDB, builds and starts its nodes, listens for other shards. */
  async setup (): Promise<void> {
    await mkdir(this.init.workDir, { recursive: true })
    if (this.init.shards > 1 && this.init.transport === 'memory') {
      this.bridge = new ShardBridge(this.fabric, this.init.shards, simLogger().forComponent('sim:bridge'))
      await this.bridge.listen(this.socketPath(this.init.shard))
    }
    this.db = new Level<string, any>(join(this.init.workDir, 'db'), { keyEncoding: 'utf8', valueEncoding: 'json' })
    await this.db.open()
    const s = this.init.scenario
    const bootstrap = s.formation.mode === 'bootstrap' ? this.init.plan.bootstrapServers.map(i => this.dialAddress(i)) : []
    const usesCrl = this.init.plan.actions.some(a => a.kind === 'revoke')
    const ctx: SimContext = {
      transport: this.init.transport,
      directory: this.directory,
      fabric: this.fabric,
      ...(this.bridge != null ? { bridge: this.bridge } : {}),
      trust: this.init.trust,
      db: this.db as unknown as RootDb,
      logger: simLogger(),
      // Each node must hold its own CRL state when CRLs travel: a shared verifier would make
      // every node but the first see the CRL as "not newer" and never forward it.
      verifier: usesCrl ? 'per-node' : s.verifier,
      bootstrap,
      targetConnections: s.formation.targetConnections,
      payloadBytes: this.init.payloadBytes,
      quicListen: (i) => quicAddress(i, this.port),
      ...(this.rotation != null ? { rotation: this.rotation } : {}),
      ...(s.dtn != null && this.init.adapter === 'mesh' ? { dtn: s.dtn } : {})
    }
    for (const m of this.init.materials) {
      const node = await this.adapter.create(m, ctx, {
        deliver: (id, via) => { this.onDeliver(m.index, id, via) },
        crlInstalled: () => { this.onCrlInstalled(m.index) }
      })
      this.nodes.set(m.index, node)
    }
    await this.forEachLimited(this.local, 64, async (n) => {
      await n.start()
      this.events.write({ e: 'node_up', t: wallNow(), n: n.index })
    })
  }

  /** Connects to the sockets of lower-numbered shards (they listen since setup). */
  async connectBridge (): Promise<void> {
    if (this.bridge == null) { return }
    for (let k = 0; k < this.init.shard; k++) { await this.bridge.connectTo(k, this.socketPath(k)) }
    // And every higher shard has connected to us (its hello may still be in flight).
    await this.bridge.waitFor(Array.from({ length: this.init.shards - this.init.shard - 1 }, (_, j) => this.init.shard + 1 + j))
  }

  /** Dials this shard's share of the topology (or, for cold boot, nothing: discovery does it). */
  async form (): Promise<{ dialed: number, failed: number }> {
    // Links form on instant links unless the scenario measures formation (cold boot): steady
    // traffic is what the other scenarios measure, and 2,000 handshakes of ~8 round trips each
    // at 100 ms would only lengthen the run. The scenario's link model applies from traffic on.
    if (!this.init.scenario.formation.measured) { this.model.setDefault({ latencyMs: 0, jitterMs: 0, loss: 0, bandwidthKbps: 0 }) }
    if (this.init.scenario.formation.mode === 'bootstrap') { return this.dialBootstrap() }
    const mine = this.init.plan.edges.filter(e => this.nodes.has(e.dialer))
    let failed = 0
    await this.forEachLimited(mine, DIAL_CONCURRENCY, async (e) => {
      const target = e.dialer === e.a ? e.b : e.a
      if (!await this.dialOnce(e.dialer, target)) { failed++ }
    })
    return { dialed: mine.length, failed }
  }

  /**
   * Cold boot over memory links: every node dials the bootstrap servers at once, as the
   * bootstrap module would (it refuses /memory addresses), and the DHT and discovery dials do the
   * rest. Over QUIC the nodes' own bootstrap module does this.
   */
  private async dialBootstrap (): Promise<{ dialed: number, failed: number }> {
    if (this.init.transport !== 'memory') { return { dialed: 0, failed: 0 } }
    const servers = this.init.plan.bootstrapServers
    const jobs = this.local.flatMap(n => servers.filter(b => b !== n.index).map(b => [n.index, b] as const))
    let failed = 0
    await Promise.all(jobs.map(async ([from, to]) => { if (!await this.dialOnce(from, to)) { failed++ } }))
    return { dialed: jobs.length, failed }
  }

  /**
   * Waits at least `minMs` and until every local node has a gossip mesh peer (or `timeoutMs`),
   * and logs when each first had one (the formation time cold boot measures).
   */
  async warm (timeoutMs: number, minMs = 0): Promise<{ ready: number, minMesh: number }> {
    const start = Date.now()
    const readyAt = new Map<number, { t: number, peers: number }>()
    // Bounded by timeoutMs: one pass every 100 ms.
    while (Date.now() - start < timeoutMs) {
      for (const n of this.local) {
        const p = n.meshPeers()
        if (p > 0 && !readyAt.has(n.index)) { readyAt.set(n.index, { t: wallNow(), peers: p }) }
      }
      if (readyAt.size === this.nodes.size && Date.now() - start >= minMs) { break }
      await sleep(100)
    }
    let minMesh = Infinity
    for (const n of this.local) {
      const p = n.meshPeers()
      minMesh = Math.min(minMesh, p)
      this.events.write({ e: 'ready', t: readyAt.get(n.index)?.t ?? wallNow(), n: n.index, peers: p })
    }
    return { ready: readyAt.size, minMesh: Number.isFinite(minMesh) ? minMesh : 0 }
  }

  /** Runs the plan's actions that concern this shard, at t0 + at; resolves when the last one ran. */
  async traffic (t0: number): Promise<void> {
    this.model.setDefault(this.init.scenario.link)
    this.rotation?.begin(t0)
    if (this.init.shard === 0) { this.events.write({ e: 'phase', t: t0, phase: 'traffic' }) }
    this.scheduler = new Scheduler(t0, (a, i) => this.apply(a, i))
    this.sampleLoad()
    await this.scheduler.run(this.init.plan.actions)
  }

  /** Once a second until finish: how busy the shard's event loop was, and its memory. */
  private sampleLoad (): void {
    let last = perf.eventLoopUtilization()
    this.loadTimer = setInterval(() => {
      const now = perf.eventLoopUtilization()
      const d = perf.eventLoopUtilization(now, last)
      last = now
      const m = process.memoryUsage()
      this.events.write({ e: 'load', t: wallNow(), shard: this.init.shard, elu: Math.round(d.utilization * 1000) / 1000, rssMB: Math.round(m.rss / 1048576), heapMB: Math.round(m.heapUsed / 1048576), links: this.fabric.liveCount, crossLinks: this.fabric.crossShardCount })
    }, 1000)
  }

  /** Writes per-node and per-shard figures, stops everything, closes the log. */
  async finish (): Promise<void> {
    this.scheduler?.stop()
    if (this.loadTimer != null) { clearInterval(this.loadTimer) }
    await Promise.allSettled(this.pending)
    const t = wallNow()
    if (this.init.shard === 0) { this.events.write({ e: 'window_end', t }) }
    for (const n of this.local) {
      const c = n.counters()
      // QUIC's bytes never pass the fabric: gossipsub's RPC bytes stand in for them there.
      const memory = this.init.transport === 'memory'
      this.events.write({ e: 'node_stats', t, n: n.index, duplicates: c.duplicates, invalid: c.invalid, bytesSent: memory ? this.fabric.bytesSent[n.index] : c.rpcBytesSent, bytesReceived: memory ? this.fabric.bytesReceived[n.index] : c.rpcBytesReceived, rpcBytesSent: c.rpcBytesSent, rpcBytesReceived: c.rpcBytesReceived })
      const d = n.dtnStats?.()
      if (d != null) { this.events.write({ e: 'dtn_stats', t, n: n.index, ...d }) }
    }
    await this.forEachLimited(this.local, 64, async (n) => { if (n.running) { await n.stop().catch(() => {}) } })
    await this.bridge?.close()
    await this.db?.close()
    const cpu = process.cpuUsage()
    this.events.write({ e: 'shard_stats', t: wallNow(), shard: this.init.shard, nodes: this.nodes.size, cpuUserS: cpu.user / 1e6, cpuSystemS: cpu.system / 1e6, peakRssBytes: process.resourceUsage().maxRSS * 1024 })
    await this.events.close()
  }

  private async apply (a: PlannedAction, index: number): Promise<void> {
    const now = wallNow()
    switch (a.kind) {
      case 'publish': {
        const node = this.nodes.get(a.node)
        if (node == null) { return }
        this.track((async () => {
          try {
            const bytes = await node.publish(a.id)
            this.publishes++
            this.events.write({ e: 'publish', t: now, m: a.id, n: a.node, bytes })
          } catch (err: any) {
            this.events.write({ e: 'publish_failed', t: now, m: a.id, n: a.node, code: String(err?.code ?? err?.name ?? 'ERROR') })
          }
        })())
        return
      }
      case 'kill':
        for (const i of a.nodes) {
          const node = this.nodes.get(i)
          if (node?.running !== true) { continue }
          this.events.write({ e: 'node_down', t: now, n: i })
          this.track(node.stop())
        }
        return
      case 'revive':
        for (const i of a.nodes) {
          const node = this.nodes.get(i)
          if (node == null || node.running) { continue }
          this.track((async () => {
            await node.start()
            this.events.write({ e: 'node_up', t: wallNow(), n: i })
            await Promise.all(this.adj[i].map(async (j) => this.dialOnce(i, j)))
          })())
        }
        return
      case 'partition':
        this.model.partition(a.groups)
        if (this.init.shard === 0) { this.events.write({ e: 'partition', t: now, groups: a.groups }) }
        return
      case 'heal':
        this.model.heal()
        if (this.init.shard === 0) { this.events.write({ e: 'heal', t: now }) }
        // Cut links come back the way they went: their dialer dials again.
        for (const e of this.init.plan.edges) {
          if (this.nodes.has(e.dialer)) { this.track(this.dialOnce(e.dialer, e.dialer === e.a ? e.b : e.a)) }
        }
        return
      case 'link':
        if (a.pair != null) { this.model.setPair(a.pair[0], a.pair[1], a.params) } else { this.model.setDefault(a.params) }
        if (this.init.shard === 0) { this.events.write({ e: 'link', t: now, params: a.params as Record<string, number>, ...(a.pair != null ? { pair: a.pair } : {}) }) }
        return
      case 'revoke': {
        for (const r of a.nodes) { this.revokedPeers.add(r) }
        const crl = this.init.crls[index]
        const by = this.nodes.get(a.by)
        if (by?.offerCrl != null && crl != null) {
          this.events.write({ e: 'crl_publish', t: now, n: a.by, revoked: a.nodes, serials: a.nodes.map(r => this.init.serials[r]) })
          this.track(by.offerCrl(crl))
        }
        return
      }
      case 'flood': {
        const node = this.nodes.get(a.node)
        if (node?.flood != null) { this.track(this.flood(node, a)) }
        break
      }
      default:
        // Every action kind is handled above.
    }
  }

  private async flood (node: SimNode, a: Extract<PlannedAction, { kind: 'flood' }>): Promise<void> {
    const end = wallNow() + a.durationMs
    const perTick = Math.max(1, Math.round(a.ratePerSec / 10))
    const counts = new Map<string, number>()
    // Ten ticks a second for the flood's duration: bounded by durationMs.
    for (let tick = 0; wallNow() < end && tick < a.durationMs / 100 + 1; tick++) {
      const kind = a.kinds[tick % a.kinds.length]
      const sent = await node.flood!(kind, perTick)
      counts.set(kind, (counts.get(kind) ?? 0) + sent)
      await sleep(100)
    }
    for (const [kind, count] of counts) { this.events.write({ e: 'flood', t: wallNow(), n: a.node, kind, count }) }
  }

  private onDeliver (n: number, id: string, via?: DeliveryPath): void {
    this.deliveries++
    this.events.write({ e: 'deliver', t: wallNow(), m: id, n, ...(via != null ? { via } : {}) })
  }

  private onCrlInstalled (n: number): void {
    this.events.write({ e: 'crl_installed', t: wallNow(), n })
    const node = this.nodes.get(n) as (SimNode & { isConnectedTo?(p: string): boolean }) | undefined
    if (node?.isConnectedTo == null || this.revokedPeers.has(n)) { return }
    // Isolated = CRL installed and no connection left to the revoked node; the close follows
    // the install within a tick or two, so poll briefly (bounded: 30 s).
    for (const r of this.revokedPeers) {
      const key = `${n}:${r}`
      if (this.isolated.has(key)) { continue }
      this.track((async () => {
        for (let i = 0; i < 1500; i++) {
          if (!node.isConnectedTo!(this.directory.peerIds[r])) {
            this.isolated.add(key)
            this.events.write({ e: 'isolated', t: wallNow(), n, r })
            return
          }
          await sleep(20)
        }
      })())
    }
  }

  private async dialOnce (from: number, to: number): Promise<boolean> {
    const node = this.nodes.get(from)
    if (node?.running !== true) { return false }
    // Two tries: the first can lose a race with the peer's own dial to us.
    for (let attempt = 0; attempt < 2; attempt++) {
      const t = wallNow()
      try {
        await node.dial(to, this.dialAddress(to), AbortSignal.timeout(DIAL_TIMEOUT_MS))
        this.events.write({ e: 'dial', t, n: from, to, ms: wallNow() - t, ok: true })
        return true
      } catch (err: any) {
        this.events.write({ e: 'dial', t, n: from, to, ms: wallNow() - t, ok: false, code: String(err?.code ?? err?.name ?? 'ERROR'), message: String(err?.message ?? '').slice(0, 120) })
        if (this.model.isCut(from, to)) { return false }
        await sleep(200)
      }
    }
    return false
  }

  private track (p: Promise<unknown>): void {
    const guarded = p.catch(() => {})
    this.pending.push(guarded)
    if (this.pending.length > 10_000) { this.pending.splice(0, 5_000) }
  }

  private socketPath (shard: number): string {
    return join(this.init.workDir, '..', `${this.init.tag}-shard${shard}.sock`)
  }

  private async forEachLimited<T> (items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < items.length) {
        const item = items[next++]
        await fn(item)
      }
    }
    await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  }
}

async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}
