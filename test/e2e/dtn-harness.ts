import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { parseBundleId } from '../../src/dtn/bundle-id.ts'
import { BundleStore } from '../../src/dtn/store/bundle-store.ts'
import { openStore } from '../../src/store/mesh-store.ts'
import { createTestMesh, eventuallyAsync, runCli, spawnNode } from '../daemon/runtime/harness.ts'
import type { BundleListing } from '../../src/daemon/runtime/dtn-listing.ts'
import type { NodeProcess, TestMesh } from '../daemon/runtime/harness.ts'

/**
 * Pieces of the DTN end-to-end suites: `dadm-mesh node start` child processes on QUIC loopback
 * (no TCP, no mDNS), `bundle send` / `bundle list` against their admin APIs, the delivery events
 * each process logs (`"msg":"bundle delivered"` lines on its stdout), real `kill -9`, and a look
 * into a stopped node's LevelDB.
 */

export const QUIC = '/ip4/127.0.0.1/udp/0/quic-v1'

/** A node started from NODEDIR, restartable; keeps every incarnation's output. */
export class DtnNode {
  readonly dir: string
  readonly nodeId: string
  readonly flags: string[]
  proc?: NodeProcess
  /** Every incarnation, oldest first (their stdout holds the delivery events). */
  readonly runs: NodeProcess[] = []

  constructor (dir: string, nodeId: string, flags: string[] = []) {
    this.dir = dir
    this.nodeId = nodeId
    this.flags = flags
  }

  /** `node start` with these bootstrap addresses; resolves once it listens. */
  async start (bootstrap: string[] = []): Promise<NodeProcess> {
    const p = await spawnNode(['node', 'start', '--dir', this.dir, '--listen', QUIC, '--no-tcp', '--no-mdns', ...bootstrap.flatMap(a => ['--bootstrap', a]), ...this.flags])
    this.proc = p
    this.runs.push(p)
    return p
  }

  get addr (): string {
    if (this.proc == null) { throw new Error(`${this.nodeId} is not running`) }
    return this.proc.addrs[0]
  }

  /** SIGTERM and wait (a clean stop). */
  async stop (): Promise<void> {
    await this.proc?.stop()
    this.proc = undefined
  }

  /** A real `kill -9` of the process by pid, then waits for it to be gone. */
  async kill9 (): Promise<void> {
    const p = this.proc
    if (p == null) { return }
    const gone = new Promise(resolve => { if (p.child.exitCode != null || p.child.signalCode != null) { resolve(null) } else { p.child.once('exit', resolve) } })
    process.kill(p.pid, 'SIGKILL')
    await gone
    this.proc = undefined
  }

  /** bundle_ids of every `bundle delivered` event logged by every incarnation, in order. */
  deliveries (): string[] {
    const out: string[] = []
    for (const r of this.runs) {
      for (const line of r.stdout().split('\n')) {
        if (!line.includes('"bundle delivered"')) { continue }
        try {
          out.push(JSON.parse(line).bundle_id)
        } catch {
          // a line cut by kill -9
        }
      }
    }
    return out
  }
}

/** `dadm-mesh bundle send ... --json`; returns { bundle_id, expires_at }. */
export async function sendBundle (dir: string, to: string, ttl: number, payload: { data: string } | { file: string }): Promise<{ bundle_id: string, expires_at: string }> {
  const src = 'data' in payload ? ['--data', payload.data] : ['--file', payload.file]
  const r = await runCli(['bundle', 'send', '--dir', dir, '--to', to, '--ttl', String(ttl), ...src, '--json'])
  if (r.code !== 0) { throw new Error(`bundle send failed (${r.code}): ${r.stderr}`) }
  return JSON.parse(r.stdout)
}

/** `dadm-mesh bundle list --json`, parsed. */
export async function listOf (dir: string): Promise<BundleListing> {
  const r = await runCli(['bundle', 'list', '--dir', dir, '--json'])
  if (r.code !== 0) { throw new Error(`bundle list failed (${r.code}): ${r.stderr}`) }
  return JSON.parse(r.stdout)
}

/** Waits until `check(listing)` holds on the node of `dir`. */
export async function untilListing (dir: string, check: (l: BundleListing) => boolean, ms: number, everyMs = 250): Promise<BundleListing> {
  let last: BundleListing | undefined
  await eventuallyAsync(async () => {
    last = await listOf(dir)
    return check(last)
  }, ms, everyMs)
  return last as BundleListing
}

export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

/**
 * What a STOPPED node's bundle store holds: entries charged to the quota (records of every kind),
 * parts held for forwarding, inbox entries, seen ids on disk, and which of `ids` it still knows.
 * Opens NODEDIR/db directly (the node must not run: one process per LevelDB).
 */
export async function storeContents (dir: string, ids: string[] = []): Promise<{ entries: number, held: number, inbox: number, seenKeys: number, known: string[] }> {
  const mesh = await openStore(join(dir, 'db'))
  try {
    const store = await BundleStore.open(mesh, { quotaBytes: 1 << 30 })
    const known: string[] = []
    for (const text of ids) { if (await store.hasSeen(parseBundleId(text))) { known.push(text) } }
    const seenKeys = (await mesh.sublevel('dtn-seen').keys().all()).length
    return { entries: store.usage.entries, held: store.outboundCount, inbox: (await store.listInbox(0)).length, seenKeys, known }
  } finally {
    await mesh.close()
  }
}

/**
 * The mocha lifecycle every DTN e2e suite shares: one enrollment service for the suite, node
 * processes made by `node(nodeId, flags)` and stopped after each test. Call inside `describe`.
 */
export function dtnSuite (name: string): { mesh(): TestMesh, node(nodeId: string, flags?: string[]): Promise<DtnNode> } {
  let mesh: TestMesh | undefined
  const nodes: DtnNode[] = []
  before(async () => { mesh = await createTestMesh(name) })
  afterEach(async () => { await Promise.all(nodes.splice(0).map(async n => n.stop())) })
  after(async () => { await mesh?.cleanup() })
  const current = (): TestMesh => {
    if (mesh == null) { throw new Error('the suite\'s mesh is not up yet') }
    return mesh
  }
  return {
    mesh: current,
    async node (nodeId, flags = []) {
      const n = new DtnNode(await current().enroll(nodeId), nodeId, flags)
      nodes.push(n)
      return n
    }
  }
}
