/**
 * The lab's observer on one host: `node lab/agent.ts NODEDIR`, run inside the host's namespace
 * (the node's admin API listens on that namespace's loopback). It reads one JSON request per line
 * on stdin ({ id, path } for a GET, { id, path, body } for a POST) and answers one JSON line on
 * stdout ({ id, ok, body | error }) with the node's own admin API answer.
 *
 * Why a process rather than `dadm-mesh node peers` each time: every CLI call decrypts the node's
 * key (scrypt) and starts Node; scenarios poll every node a few times a second to time
 * reconnections, so the agent opens the key once per API session and reuses it. The requests are
 * the ones the CLI makes (same session certificate, same mutual-TLS client).
 */
import { createInterface } from 'node:readline'
import { nodeApiSession } from '../src/cli/commands/node-api-session.ts'
import { nodeApiGet, nodeApiPost } from '../src/daemon/api/client.ts'
import type { NodeApiClientOptions } from '../src/daemon/api/client.ts'

/** A session certificate lives 5 minutes; renew well before. */
const SESSION_RENEW_MS = 3 * 60_000
const REQUEST_TIMEOUT_MS = 5_000
const MAX_LINE = 64 * 1024
const ALLOWED_GET = /^\/v1\/(mesh\/peers|mesh\/gossip|bundles|node)(\?[A-Za-z0-9=&_.%-]*)?$/
/** What `gossip publish` and `bundle send` post. */
const ALLOWED_POST = /^\/v1\/(mesh\/gossip|bundles)$/

const dir = process.argv[2]
if (dir == null) {
  process.stderr.write('usage: agent.ts NODEDIR\n')
  process.exit(2)
}

let session: { opts: NodeApiClientOptions, at: number } | undefined
const io = { stdout: process.stdout, stderr: process.stderr, env: process.env }

async function call (path: string, body: unknown): Promise<unknown> {
  if (session == null || Date.now() - session.at > SESSION_RENEW_MS) {
    session = { opts: await nodeApiSession(dir, io, undefined), at: Date.now() }
  }
  try {
    const opts = { ...session.opts, timeoutMs: REQUEST_TIMEOUT_MS }
    return await (body === undefined ? nodeApiGet(path, opts) : nodeApiPost(path, body, opts))
  } catch (err) {
    // A restarted node has a new API port (run.json): the next request builds a new session.
    session = undefined
    throw err
  }
}

const rl = createInterface({ input: process.stdin })
rl.on('line', line => {
  if (line.length > MAX_LINE) { return }
  let req: { id: number, path: string, body?: unknown }
  try { req = JSON.parse(line) } catch { return }
  if (typeof req.path !== 'string' || !(req.body === undefined ? ALLOWED_GET : ALLOWED_POST).test(req.path)) {
    process.stdout.write(JSON.stringify({ id: req.id, ok: false, error: 'path not allowed' }) + '\n')
    return
  }
  call(req.path, req.body).then(
    body => { process.stdout.write(JSON.stringify({ id: req.id, ok: true, body }) + '\n') },
    (err: Error & { code?: string }) => { process.stdout.write(JSON.stringify({ id: req.id, ok: false, error: `${err.code ?? err.name}: ${err.message}` }) + '\n') }
  )
})
rl.on('close', () => { process.exit(0) })
process.stderr.write('agent: ready\n')
