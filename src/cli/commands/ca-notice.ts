import { readFile, writeFile } from 'node:fs/promises'
import { decodeNotice } from '../../../protocols/rotate-now/index.ts'
import { createRotateNowNotice, createTrustBundleNotice } from '../../enrollment/ca-notices.ts'
import { EXIT, nowOf, parseCommand, parseDuration, reportError, required, UsageError } from '../io.ts'
import { CA_ROTATE_NOW } from '../specs/ca-rotate-now.ts'
import { CA_TRUST_BUNDLE } from '../specs/ca-trust-bundle.ts'
import { withCa } from './ca-common.ts'
import type { AdminSocketClient } from '../../enrollment/admin-client.ts'
import type { NoticeDelivery } from '../../enrollment/types.ts'
import type { CliIo } from '../io.ts'

/*
 * Operator actions on every node's certificate, as CA-signed notices (protocols/rotate-now):
 *
 * - `ca rotate-now`: every node (or the named ones) renews its certificate within a bounded time
 *   (its rotate-now spread, 30 s by default). Signed by the issuing CA.
 * - `ca trust-bundle`: the roots every node trusts from now on (CA rotation: first old + new,
 *   once all nodes rotated, only the new one). Signed by this CA's ROOT key.
 *
 * While `ca serve` runs, the command goes to it over DIR/admin.sock and its mesh node (on unless
 * `--no-mesh`) pushes the notice to its peers at once (each forwards it once). Without a running
 * service the notice is signed here and stored. Either way the CA keeps every unexpired notice
 * and hands them all out at GET /v1/notices (nodes poll it), and `--out` writes it to a file to
 * carry across an air gap. The command prints which of these happened.
 */

interface NoticeArgs { dir: string, ttlMs?: number, out?: string, json: boolean }

function common (values: { dir?: string, ttl?: string, out?: string, json?: boolean }): NoticeArgs {
  const dir = required(values.dir, '--dir')
  return { dir, json: values.json === true, ...(values.ttl != null ? { ttlMs: parseDuration(values.ttl) * 1000 } : {}), ...(values.out != null ? { out: values.out } : {}) }
}

function rotateArgs (args: string[]): NoticeArgs & { targets?: string[] } {
  const { values } = parseCommand(args, CA_ROTATE_NOW)
  const ids = values['node-id'] ?? []
  if ((ids.length > 0) === (values.all === true)) { throw new UsageError('give --node-id (one or more) or --all') }
  return { ...common(values), ...(ids.length > 0 ? { targets: ids } : {}) }
}

async function bundleArgs (args: string[]): Promise<NoticeArgs & { rootsPem: string, casPem?: string }> {
  const { values } = parseCommand(args, CA_TRUST_BUNDLE)
  const rootsPem = await readFile(required(values.roots, '--roots'), 'utf8')
  const casPem = values.cas != null ? await readFile(values.cas, 'utf8') : undefined
  return { ...common(values), rootsPem, ...(casPem != null ? { casPem } : {}) }
}

/**
 * Says what happened to the notice, no more: pushed by the running service's mesh node (and to
 * how many peers), or stored for the nodes' poll of GET /v1/notices (no mesh node, or no service).
 */
export function deliveryLine (d: NoticeDelivery | undefined): string {
  if (d == null) { return 'stored (no `ca serve` runs): the service hands it out at GET /v1/notices once it runs; nodes poll it (node start --notice-interval, default 5m)\n' }
  if (d.via === 'poll') { return 'stored, NOT pushed: the running service has no mesh node (--no-mesh); nodes pick it up at GET /v1/notices on their next notice poll (node start --notice-interval, default 5m)\n' }
  if (d.via === 'refused') { return `stored, NOT pushed: the service's mesh node refused it (${d.code}); nodes still poll GET /v1/notices\n` }
  return `pushed by the service's mesh node: ${d.accepted} of ${d.peers} connected peer(s) accepted it${d.gossiped ? ', also gossiped' : ''}; peers forward it, and nodes not connected get it at GET /v1/notices on their next poll\n`
}

async function report (io: CliIo, notice: Uint8Array, out: string | undefined, delivery: NoticeDelivery | undefined, json = false): Promise<number> {
  const n = decodeNotice(notice).notice
  if (json) {
    if (out != null) { await writeFile(out, notice, { mode: 0o644 }) }
    // `stored` without a service: nothing pushed it; the service hands it out once it runs.
    io.stdout.write(JSON.stringify({
      kind: n.kind,
      seq: n.seq,
      targets: n.targets ?? null,
      roots: n.roots?.length ?? null,
      expires_at: new Date(n.exp).toISOString(),
      out: out ?? null,
      delivery: delivery ?? { via: 'stored' }
    }, null, 2) + '\n')
    return EXIT.OK
  }
  const what = n.kind === 'rotate-now' ? `for ${n.targets?.join(', ') ?? 'every node'}` : `with ${n.roots?.length ?? 0} root(s)`
  io.stdout.write(`${n.kind} notice seq ${n.seq} ${what}, expires ${new Date(n.exp).toISOString()}\n`)
  if (out != null) {
    await writeFile(out, notice, { mode: 0o644 })
    io.stdout.write(`written to ${out}\n`)
  }
  io.stdout.write(deliveryLine(delivery))
  return EXIT.OK
}

/** `ca rotate-now`, with the CA opened here. */
export async function caRotateNow (args: string[], io: CliIo): Promise<number> {
  const a = rotateArgs(args)
  try {
    const notice = await withCa(a.dir, passphraseFile(args), io, async ca => createRotateNowNotice(ca, { ...(a.targets != null ? { targets: a.targets } : {}), ...(a.ttlMs != null ? { ttlMs: a.ttlMs } : {}) }, nowOf(io)))
    return await report(io, notice, a.out, undefined, a.json)
  } catch (err) {
    return reportError(io, err)
  }
}

/** `ca rotate-now` through the running service (which also publishes it on the mesh). */
export async function rotateNowViaSocket (client: AdminSocketClient, args: string[], io: CliIo): Promise<number> {
  const a = rotateArgs(args)
  try {
    const r = await client.rotateNowReport({ ...(a.targets != null ? { targets: a.targets } : {}), ...(a.ttlMs != null ? { ttlMs: a.ttlMs } : {}) })
    return await report(io, r.notice, a.out, r.delivery, a.json)
  } catch (err) {
    return reportError(io, err)
  }
}

/** `ca trust-bundle`, with the CA opened here (the root key signs). */
export async function caTrustBundle (args: string[], io: CliIo): Promise<number> {
  try {
    const a = await bundleArgs(args)
    const notice = await withCa(a.dir, passphraseFile(args), io, async ca => createTrustBundleNotice(ca, { rootsPem: a.rootsPem, ...(a.casPem != null ? { casPem: a.casPem } : {}), ...(a.ttlMs != null ? { ttlMs: a.ttlMs } : {}) }, nowOf(io)))
    return await report(io, notice, a.out, undefined, a.json)
  } catch (err) {
    if (err instanceof UsageError) { throw err }
    return reportError(io, err)
  }
}

/** `ca trust-bundle` through the running service. */
export async function trustBundleViaSocket (client: AdminSocketClient, args: string[], io: CliIo): Promise<number> {
  try {
    const a = await bundleArgs(args)
    const r = await client.trustBundleReport({ rootsPem: a.rootsPem, ...(a.casPem != null ? { casPem: a.casPem } : {}), ...(a.ttlMs != null ? { ttlMs: a.ttlMs } : {}) })
    return await report(io, r.notice, a.out, r.delivery, a.json)
  } catch (err) {
    if (err instanceof UsageError) { throw err }
    return reportError(io, err)
  }
}

function passphraseFile (args: string[]): string | undefined {
  const i = args.indexOf('--passphrase-file')
  if (i >= 0) { return args[i + 1] }
  return args.find(a => a.startsWith('--passphrase-file='))?.slice('--passphrase-file='.length)
}
