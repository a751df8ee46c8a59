import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ANOMALY_TOPIC } from '../../../protocols/anomaly-gossip/index.ts'
import { enrollNode } from '../../../src/daemon/enroll/enroll-node.ts'
import { startNodeRuntime } from '../../../src/daemon/runtime/node-runtime.ts'
import { issueServerTls, serverNames } from '../../../src/enrollment/server-cert.ts'
import { MIN_SCRYPT_LOG_N } from '../../../src/identity/key-file.ts'
import { startService } from '../../enrollment/harness.ts'
import { eventually } from '../../node/fixtures.ts'
import type { CaInitOptions } from '../../../src/ca/index.ts'
import type { NoticeEvent, NoticeRefusedEvent, RotatedEvent } from '../../../src/daemon/lifecycle/index.ts'
import type { NodeRuntime, NodeRuntimeInit } from '../../../src/daemon/runtime/node-runtime.ts'
import type { CaServiceOptions } from '../../../src/enrollment/ca-service.ts'
import type { Service, TestClock } from '../../enrollment/harness.ts'

export const PASS = 'lifecycle test passphrase'

/**
 * A clock that runs `speed` times faster than real time from its creation (plus an offset tests
 * may move): the CA service, every node and the certificates all live on it, so a 60 s
 * certificate lasts 60 / speed real seconds and a test sees several rotations in a few seconds.
 * Real timers (ticks, deadlines, TLS) keep real time; only certificate, gossip and CRL times run fast.
 */
export class FastClock implements TestClock {
  readonly speed: number
  readonly t0 = Date.now()
  /**
   * The fast clock starts an hour behind real time: TLS checks the CA's and the service's
   * certificates against the REAL clock, so their notBefore must not lie ahead of it. At 8x the
   * fast clock catches up after 8.5 minutes, far beyond any test here.
   */
  offsetMs = -3600_000

  constructor (speed: number) {
    this.speed = speed
  }

  ms = (): number => this.t0 + (Date.now() - this.t0) * this.speed + this.offsetMs
  now = (): Date => new Date(this.ms())
  advance (ms: number): void { this.offsetMs += ms }
}

export interface LifecycleMesh {
  base: string
  svc: Service
  clock: FastClock
  runtimes: NodeRuntime[]
  /** Enrolls `nodeId` through POST /v1/enroll into a fresh NODEDIR. */
  enroll(nodeId: string): Promise<string>
  /** Starts the node runtime of `dir` on 127.0.0.`host` (QUIC), dialling `bootstrap`. */
  start(dir: string, host: number, bootstrap?: string[], extra?: Partial<NodeRuntimeInit>): Promise<NodeRuntime>
  stop(r: NodeRuntime): Promise<void>
  cleanup(): Promise<void>
}

export interface LifecycleMeshOptions {
  speed: number
  /** Node certificate lifetime, seconds (of the fast clock). */
  certSeconds: number
  service?: CaServiceOptions
  init?: Partial<CaInitOptions>
  /** Rotation spread of a rotate-now, ms of the fast clock. */
  rotateNowSpreadMs?: number
}

/** A CA with `certSeconds` certificates behind the real HTTPS service, on a fast clock. */
export async function createLifecycleMesh (name: string, o: LifecycleMeshOptions): Promise<LifecycleMesh> {
  const base = await mkdtemp(join(tmpdir(), `dadm-lc-${name}-`))
  const clock = new FastClock(o.speed)
  const svc = await startService({ clock, init: { ...o.init, config: { node_cert_validity_seconds: o.certSeconds, ...o.init?.config } }, ...(o.service != null ? { service: o.service } : {}) })
  svc.service.useCrlUrl(`${svc.url}/v1/crl`)
  // The service's TLS certificate got the short node lifetime and fast-clock times; TLS checks it
  // against the real clock, so it gets a week from a real minute ago instead.
  const tls = await issueServerTls(svc.ca, serverNames('127.0.0.1'), new Date(Date.now() - 60_000), 7 * 24 * 3600)
  svc.server.setTls(tls)
  const runtimes: NodeRuntime[] = []
  return {
    base,
    svc,
    clock,
    runtimes,
    async enroll (nodeId) {
      const dir = join(base, nodeId)
      const { token } = await svc.service.createToken({ ttlMs: 3600_000, uses: 1 }, clock.now())
      await enrollNode({ dir, caUrl: svc.url, caCertPem: svc.rootPem, token, nodeId, passphrase: PASS, scryptLogN: MIN_SCRYPT_LOG_N, timeoutMs: 10_000, now: clock.now })
      return dir
    },
    async start (dir, host, bootstrap = [], extra = {}) {
      const r = await startLifecycleRuntime(dir, host, clock, { bootstrap, extra, rotateNowSpreadMs: o.rotateNowSpreadMs ?? 1_000 })
      runtimes.push(r)
      return r
    },
    async stop (r) {
      runtimes.splice(runtimes.indexOf(r), 1)
      await r.stop()
    },
    async cleanup () {
      await Promise.all(runtimes.splice(0).map(async r => { await r.stop() }))
      await svc.cleanup()
      await rm(base, { recursive: true, force: true })
    }
  }
}

/** Starts the node runtime of `dir` on 127.0.0.`host` (QUIC only, no DHT or mDNS), on `clock`, tuned for tests. */
export async function startLifecycleRuntime (dir: string, host: number, clock: FastClock, o: { bootstrap?: string[], extra?: Partial<NodeRuntimeInit>, rotateNowSpreadMs?: number } = {}): Promise<NodeRuntime> {
  const extra = o.extra ?? {}
  return startNodeRuntime({
    dir,
    passphrase: PASS,
    api: false,
    crl: false,
    runFile: false,
    now: clock.ms,
    keyEnv: { scryptLogN: MIN_SCRYPT_LOG_N },
    ...extra,
    options: {
      listen: [`/ip4/127.0.0.${host}/udp/0/quic-v1`],
      transports: { quic: true, tcp: false },
      mdns: { enabled: false },
      dht: { enabled: false },
      discovery: { dialDiscovered: false },
      bootstrap: o.bootstrap ?? [],
      auth: { sessionCheckMs: 50 },
      ...extra.options
    },
    lifecycle: {
      // Ticks and retries in real ms, spreads in clock ms.
      rotation: { tickMs: 50, retryInitialMs: 200, retryMaxMs: 2_000, rotateNowSpreadMs: o.rotateNowSpreadMs ?? 1_000 },
      noticePollMs: false,
      caTimeoutMs: 10_000,
      ...extra.lifecycle
    }
  })
}

/** Dials every pair once and waits until all are authenticated both ways. */
export async function fullMesh (rs: NodeRuntime[], ms = 20_000): Promise<void> {
  for (let i = 0; i < rs.length; i++) {
    for (let j = i + 1; j < rs.length; j++) {
      await rs[i].node.dial(rs[j].node.getMultiaddrs()[0], { signal: AbortSignal.timeout(10_000) })
    }
  }
  await eventually(() => rs.every(a => rs.every(b => a === b || a.node.isAuthenticated(b.node.peerId))), ms)
}

/** Waits until every node has every other in its anomaly topic mesh (or at least `min` peers). */
export async function gossipMeshed (rs: NodeRuntime[], min: number, ms = 20_000): Promise<void> {
  await eventually(() => rs.every(r => (r.node.gossip?.pubsub as any)?.getMeshPeers(ANOMALY_TOPIC).length >= min), ms)
}

/** What a line of runtimes records: per node, its rotations, accepted notices and refused ones. */
export interface NoticeLine {
  rs: NodeRuntime[]
  rotations: RotatedEvent[][]
  notices: NoticeEvent[][]
  refusals: NoticeRefusedEvent[][]
}

/**
 * Enrolls and starts `n` runtimes (`<prefix>-<i>` on 127.0.0.<host + i>) linked in a line, i
 * dialling i + 1 only, and records their lifecycle events: how notices are shown to cross hops.
 */
export async function startNoticeLine (mesh: LifecycleMesh, prefix: string, n: number, host: number, extra: Partial<NodeRuntimeInit> = {}): Promise<NoticeLine> {
  const line: NoticeLine = { rs: [], rotations: [], notices: [], refusals: [] }
  const dirs: string[] = []
  for (let i = 0; i < n; i++) { dirs.push(await mesh.enroll(`${prefix}-${i}`)) }
  for (let i = 0; i < n; i++) {
    const r = await mesh.start(dirs[i], host + i, [], extra)
    const rotations: RotatedEvent[] = []
    const notices: NoticeEvent[] = []
    const refusals: NoticeRefusedEvent[] = []
    r.lifecycle.rotation.addEventListener('rotated', (e) => { rotations.push(e.detail) })
    r.lifecycle.notices.addEventListener('notice', (e) => { notices.push(e.detail) })
    r.lifecycle.notices.addEventListener('notice:refused', (e) => { refusals.push(e.detail) })
    line.rs.push(r)
    line.rotations.push(rotations)
    line.notices.push(notices)
    line.refusals.push(refusals)
  }
  for (let i = 0; i + 1 < n; i++) { await line.rs[i].node.dial(line.rs[i + 1].node.getMultiaddrs()[0], { signal: AbortSignal.timeout(10_000) }) }
  return line
}
