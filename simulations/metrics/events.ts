import { createWriteStream } from 'node:fs'
import type { WriteStream } from 'node:fs'

/**
 * The raw event log of a run, one JSON object per line (`events.ndjson`). Every figure of
 * `summary.json` and of the report is computed from these lines by `computeSummary`, and can be
 * recomputed from the file alone. `t` is ms since the epoch (fractional), from the shard's
 * `performance.timeOrigin + performance.now()`: all shards run on one machine and one clock.
 */
export type SimEvent =
  | { e: 'run', t: number, run: string, scenario: string, adapter: string, seed: string, nodes: number, transport: string, shards: number }
  | { e: 'topology', t: number, edges: Array<[number, number]> }
  | { e: 'node_up', t: number, n: number }
  | { e: 'node_down', t: number, n: number }
  | { e: 'ready', t: number, n: number, peers: number }
  | { e: 'dial', t: number, n: number, to: number, ms: number, ok: boolean, code?: string, message?: string }
  | { e: 'publish', t: number, m: string, n: number, bytes: number }
  | { e: 'publish_failed', t: number, m: string, n: number, code: string }
  // `via`: the path that delivered (mesh with DTN: 'gossip' or 'bundle'; adapters/sim-dtn.ts)
  | { e: 'deliver', t: number, m: string, n: number, via?: 'gossip' | 'bundle' }
  | { e: 'partition', t: number, groups: number[][] }
  | { e: 'heal', t: number }
  | { e: 'link', t: number, params: Record<string, number>, pair?: [number, number] }
  | { e: 'crl_publish', t: number, n: number, revoked: number[], serials: string[] }
  | { e: 'crl_installed', t: number, n: number }
  | { e: 'isolated', t: number, n: number, r: number }
  | { e: 'flood', t: number, n: number, kind: string, count: number }
  | { e: 'node_stats', t: number, n: number, duplicates: number, invalid: number, bytesSent: number, bytesReceived: number, rpcBytesSent: number, rpcBytesReceived: number }
  | { e: 'shard_stats', t: number, shard: number, nodes: number, cpuUserS: number, cpuSystemS: number, peakRssBytes: number }
  | { e: 'phase', t: number, phase: string }
  | { e: 'load', t: number, shard: number, elu: number, rssMB: number, heapMB: number, links?: number, crossLinks?: number }
  | { e: 'window_end', t: number }
  // Per node at the end (DTN on): anomaly signatures it carried in bundles, took from bundles, refused; bundles held.
  | { e: 'dtn_stats', t: number, n: number, carried: number, accepted: number, refused: number, held: number }
  // Certificate rotation (scenario option `rotation`; adapters/sim-rotation.ts). `clock`: the
  // run clock's speed and the wall time it went fast; `c`: a run-clock reading; `left`: run-clock
  // ms the replaced certificate still had; `p`: the peer's node index (-1: not a node of the run).
  | { e: 'clock', t: number, speed: number, fastFrom: number, certSeconds: number }
  | { e: 'rotated', t: number, n: number, serial: string, prev: string, reason: string, c: number, notAfter: number, left: number }
  | { e: 'rotation_failed', t: number, n: number, code: string, serverCode?: string, failures: number }
  | { e: 'reauth', t: number, n: number, ok: number, failed: number, ms: number }
  | { e: 'key_deleted', t: number, n: number, serial: string }
  | { e: 'auth_failed', t: number, n: number, p: number, code: string, chainCode?: string, remoteCode?: string, direction: string }
  | { e: 'session_ended', t: number, n: number, p: number, code: string, chainCode?: string }
  | { e: 'conn_closed', t: number, n: number, p: number }

/** The shared wall clock, ms since the epoch with sub-ms precision. */
export function wallNow (): number {
  return performance.timeOrigin + performance.now()
}

/** Appends events to an ndjson file, buffered; `close` flushes. */
export class EventWriter {
  private readonly out: WriteStream
  private buf: string[] = []
  count = 0

  constructor (path: string) {
    this.out = createWriteStream(path, { flags: 'a' })
  }

  write (ev: SimEvent): void {
    this.buf.push(JSON.stringify(ev))
    this.count++
    if (this.buf.length >= 512) { this.flush() }
  }

  flush (): void {
    if (this.buf.length === 0) { return }
    this.out.write(this.buf.join('\n') + '\n')
    this.buf = []
  }

  async close (): Promise<void> {
    this.flush()
    await new Promise<void>((resolve, reject) => { this.out.end((err?: Error | null) => { if (err != null) { reject(err) } else { resolve() } }) })
  }
}
