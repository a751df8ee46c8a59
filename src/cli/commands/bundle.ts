import { readFile, stat } from 'node:fs/promises'
import { EXIT, parseCommand, parseDuration, reportError, required, UsageError } from '../io.ts'
import { BUNDLE_LIST } from '../specs/bundle-list.ts'
import { BUNDLE_SEND } from '../specs/bundle-send.ts'
import { nodeRead } from './node-read.ts'
import type { BundleListing } from '../../daemon/runtime/dtn-listing.ts'
import type { CliIo } from '../io.ts'

/** The POST carries up to 16 MiB as base64 (about 22 MiB); a slow disk's sync write is in it too. */
const SEND_TIMEOUT_MS = 60_000

/**
 * `bundle send`: asks the running node of NODEDIR to send a bundle as itself (`POST /v1/bundles`
 * on its admin API, over mutual TLS as the node). Prints the bundle_id once the node has the
 * bundle on disk; the node delivers it directly, through relays, or when the destination appears.
 */
export async function bundleSend (args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommand(args, BUNDLE_SEND)
  const dir = required(values.dir, '--dir')
  const to = required(values.to, '--to')
  const ttl = parseDuration(required(values.ttl, '--ttl'))
  if (ttl < 1) { throw new UsageError('--ttl must be at least 1 second') }
  if ((values.file == null) === (values.data == null)) { throw new UsageError('give exactly one of --file or --data') }
  try {
    let payload: Buffer
    if (values.file != null) {
      // refuse before reading: a payload the API would refuse is not worth holding in memory
      // The route module holds the limit, and its schemas: loaded only when a file is sent.
      const { MAX_API_PAYLOAD_BYTES } = await import('../../daemon/api/routes/bundles.ts')
      if ((await stat(values.file)).size > MAX_API_PAYLOAD_BYTES) { throw new UsageError(`--file is larger than ${MAX_API_PAYLOAD_BYTES} bytes, the API's limit`) }
      payload = await readFile(values.file)
    } else {
      payload = Buffer.from(values.data as string, 'utf8')
    }
    // Acting as the node needs its identity key, over mTLS; that half is loaded only here.
    const { nodeApiPost, nodeApiSession } = await loadActAsNode()
    const session = await nodeApiSession(dir, io, values['passphrase-file'])
    const r = await nodeApiPost('/v1/bundles', { destination: to, ttl_sec: ttl, payload: payload.toString('base64') }, { ...session, timeoutMs: SEND_TIMEOUT_MS }) as { bundle_id: string, expires_at: string }
    io.stdout.write(values.json === true ? JSON.stringify(r, null, 2) + '\n' : `${r.bundle_id}\n`)
    if (values.json !== true) { io.stderr.write(`stored: ${payload.length} bytes for ${to}, expires ${r.expires_at}\n`) }
    return EXIT.OK
  } catch (err) {
    return reportError(io, err)
  }
}

/** `bundle list`: what the running node holds (`GET /v1/bundles`): its inbox, what it forwards, reassemblies. */
export async function bundleList (args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommand(args, BUNDLE_LIST)
  const dir = required(values.dir, '--dir')
  const query = new URLSearchParams()
  if (values.limit != null) {
    if (!/^\d{1,4}$/.test(values.limit) || Number(values.limit) < 1 || Number(values.limit) > 1000) { throw new UsageError('--limit must be 1-1000') }
    query.set('limit', values.limit)
  }
  try {
    const q = query.toString()
    const listing = await nodeRead(dir, `/v1/bundles${q === '' ? '' : `?${q}`}`, io, values['passphrase-file']) as BundleListing
    io.stdout.write(values.json === true ? JSON.stringify(listing, null, 2) + '\n' : formatListing(listing))
    return EXIT.OK
  } catch (err) {
    return reportError(io, err)
  }
}

/** Three fixed-width tables: delivered here, held for forwarding, being reassembled. */
export function formatListing (l: BundleListing): string {
  const out: string[] = []
  out.push(`delivered to this node (${l.inbox.length}):`)
  out.push(...table(['BUNDLE_ID', 'SOURCE', 'SIZE', 'SHA256', 'DELIVERED_AT', 'EXPIRES_AT'],
    l.inbox.map(r => [r.bundle_id, r.source, String(r.size), r.sha256.slice(0, 16), r.delivered_at, r.expires_at])))
  out.push(`held for forwarding (${l.held.length}):`)
  out.push(...table(['BUNDLE_ID', 'DESTINATION', 'OFFSET', 'LENGTH', 'COPIES', 'ATTEMPTS', 'NEXT_ATTEMPT', 'EXPIRES_AT'],
    l.held.map(r => [r.bundle_id, r.destination, String(r.offset), String(r.length), String(r.copies), String(r.attempts), r.next_attempt_at, r.expires_at])))
  if (l.reassembling.length > 0) {
    out.push(`being reassembled (${l.reassembling.length}):`)
    out.push(...table(['BUNDLE_ID', 'FRAGMENTS', 'BYTES_HELD', 'TOTAL', 'EXPIRES_AT'],
      l.reassembling.map(r => [r.bundle_id, String(r.fragments), String(r.bytes_held), String(r.total_length), r.expires_at])))
  }
  return out.join('\n') + '\n'
}

function table (head: string[], rows: string[][]): string[] {
  if (rows.length === 0) { return ['  (none)'] }
  const cells = [head, ...rows]
  const widths = head.map((_, i) => Math.max(...cells.map(r => r[i].length)))
  return cells.map(r => '  ' + r.map((v, i) => i === r.length - 1 ? v : v.padEnd(widths[i])).join('  '))
}

/** The mTLS client and the node's session credential: slow to load, needed only to act as the node. */
async function loadActAsNode (): Promise<{ nodeApiPost: typeof import('../../daemon/api/client.ts').nodeApiPost, nodeApiSession: typeof import('./node-api-session.ts').nodeApiSession }> {
  const [{ nodeApiPost }, { nodeApiSession }] = await Promise.all([import('../../daemon/api/client.ts'), import('./node-api-session.ts')])
  return { nodeApiPost, nodeApiSession }
}
