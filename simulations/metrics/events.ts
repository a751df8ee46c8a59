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
  | { e: 'deliver', t: number, m: string, n: number }
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
