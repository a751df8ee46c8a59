import { readFile } from 'node:fs/promises'
import { MAX_ENVELOPE_BYTES } from '../../../protocols/anomaly-gossip/constants.ts'
import { EXIT, parseCommand, reportError, required, UsageError } from '../io.ts'
import { GOSSIP_LIST } from '../specs/gossip-list.ts'
import { GOSSIP_PUBLISH } from '../specs/gossip-publish.ts'
import { nodeRead } from './node-read.ts'
import type { GossipRowBody } from '../../daemon/api/routes/gossip.ts'
import type { CliIo } from '../io.ts'

/**
 * `gossip publish`: asks the running node of NODEDIR to sign and gossip an anomaly signature
 * (`POST /v1/mesh/gossip` on its admin API, as the node itself over mutual TLS), or with
 * `--signed FILE` to check and forward an envelope another member signed. Prints the
 * message_id; the node has stored it and queued it for propagation (HTTP 202).
 */
export async function gossipPublish (args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommand(args, GOSSIP_PUBLISH)
  const dir = required(values.dir, '--dir')
  if (values.signed != null && (values.type != null || values.value != null || values.ttl != null || (values.meta ?? []).length > 0)) {
    throw new UsageError('--signed takes the whole envelope: no --type, --value, --ttl or --meta with it')
  }
  try {
    const body = values.signed != null
      ? { envelope: (await readEnvelopeFile(values.signed)).toString('base64') }
      : {
          type: required(values.type, '--type'),
          value: required(values.value, '--value'),
          ...(values.ttl != null ? { ttl_sec: parseTtl(values.ttl) } : {}),
          ...((values.meta ?? []).length > 0 ? { meta: parseMeta(values.meta ?? []) } : {})
        }
    // Acting as the node needs its identity key, over mTLS; that half is loaded only here.
    const { nodeApiPost, nodeApiSession } = await loadActAsNode()
    const session = await nodeApiSession(dir, io, values['passphrase-file'])
    const r = await nodeApiPost('/v1/mesh/gossip', body, session) as { message_id: string, expiry: string, recipients: number }
    io.stdout.write(values.json === true ? JSON.stringify(r, null, 2) + '\n' : `${r.message_id}\n`)
    if (values.json !== true) { io.stderr.write(`published: expires ${r.expiry}, sent to ${r.recipients} peer(s) directly\n`) }
    return EXIT.OK
  } catch (err) {
    return reportError(io, err)
  }
}

/** `gossip list`: the anomaly signatures the running node holds (`GET /v1/mesh/gossip`). */
export async function gossipList (args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommand(args, GOSSIP_LIST)
  const dir = required(values.dir, '--dir')
  const query = new URLSearchParams()
  if (values.limit != null) {
    if (!/^\d{1,4}$/.test(values.limit) || Number(values.limit) < 1 || Number(values.limit) > 1000) { throw new UsageError('--limit must be 1-1000') }
    query.set('limit', values.limit)
  }
  if (values.origin != null) { query.set('origin', values.origin) }
  if (values.type != null) { query.set('type', values.type) }
  try {
    const q = query.toString()
    const rows = await nodeRead(dir, `/v1/mesh/gossip${q === '' ? '' : `?${q}`}`, io, values['passphrase-file']) as GossipRowBody[]
    io.stdout.write(values.json === true ? JSON.stringify(rows, null, 2) + '\n' : formatGossip(rows))
    return EXIT.OK
  } catch (err) {
    return reportError(io, err)
  }
}

/** A signed envelope file, bounded before it is read whole. */
async function readEnvelopeFile (path: string): Promise<Buffer> {
  const bytes = await readFile(path)
  if (bytes.byteLength === 0 || bytes.byteLength > MAX_ENVELOPE_BYTES) { throw new UsageError(`--signed ${path}: not an envelope (1 to ${MAX_ENVELOPE_BYTES} bytes of CBOR)`) }
  return bytes
}

/** "90", "90s", "30m", "24h" into seconds. */
export function parseTtl (s: string): number {
  const m = /^(\d{1,6})([smh]?)$/.exec(s)
  const n = m == null ? 0 : Number(m[1]) * ({ '': 1, s: 1, m: 60, h: 3600 }[m[2]] as number)
  if (n < 1) { throw new UsageError('--ttl must be a positive duration in seconds (e.g. 600, 30m, 24h)') }
  return n
}

/** KEY=VALUE pairs; whole numbers and true/false become numbers and booleans. */
export function parseMeta (pairs: string[]): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {}
  for (const p of pairs) {
    const eq = p.indexOf('=')
    if (eq <= 0) { throw new UsageError(`--meta must be KEY=VALUE, not ${JSON.stringify(p)}`) }
    const v = p.slice(eq + 1)
    out[p.slice(0, eq)] = /^-?\d{1,15}$/.test(v) ? Number(v) : v === 'true' ? true : v === 'false' ? false : v
  }
  return out
}

const COLUMNS: Array<[string, (r: GossipRowBody) => string]> = [
  ['MESSAGE_ID', r => r.message_id], ['ORIGIN', r => r.origin], ['TYPE', r => r.payload.type],
  ['VALUE', r => r.payload.value.length > 40 ? `${r.payload.value.slice(0, 37)}...` : r.payload.value],
  ['SOURCE', r => r.source], ['EXPIRY', r => r.expiry]
]

/** Fixed-width columns, one signature per line, as the node listed them (latest expiry first). */
export function formatGossip (rows: GossipRowBody[]): string {
  const cells = [COLUMNS.map(c => c[0]), ...rows.map(r => COLUMNS.map(c => c[1](r)))]
  const widths = COLUMNS.map((_, i) => Math.max(...cells.map(row => row[i].length)))
  const lines = cells.map(row => row.map((v, i) => i === row.length - 1 ? v : v.padEnd(widths[i])).join('  '))
  return lines.join('\n') + '\n' + (rows.length === 0 ? '(no anomaly signatures)\n' : '')
}

/** The mTLS client and the node's session credential: slow to load, needed only to act as the node. */
async function loadActAsNode (): Promise<{ nodeApiPost: typeof import('../../daemon/api/client.ts').nodeApiPost, nodeApiSession: typeof import('./node-api-session.ts').nodeApiSession }> {
  const [{ nodeApiPost }, { nodeApiSession }] = await Promise.all([import('../../daemon/api/client.ts'), import('./node-api-session.ts')])
  return { nodeApiPost, nodeApiSession }
}
