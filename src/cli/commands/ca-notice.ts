import { readFile, writeFile } from 'node:fs/promises'
import { decodeNotice } from '../../../protocols/rotate-now/index.ts'
import { createRotateNowNotice, createTrustBundleNotice } from '../../enrollment/ca-notices.ts'
import { EXIT, nowOf, parse, parseDuration, reportError, required, UsageError } from '../io.ts'
import { withCa } from './ca-common.ts'
import type { AdminSocketClient } from '../../enrollment/admin-client.ts'
import type { CliIo } from '../io.ts'

export const rotateNowUsage = 'dadm-mesh ca rotate-now --dir DIR (--node-id ID [--node-id ID]... | --all) [--ttl 24h] [--out FILE] [--passphrase-file F]'
export const trustBundleUsage = 'dadm-mesh ca trust-bundle --dir DIR --roots ROOTS.pem [--cas CAS.pem] [--ttl 24h] [--out FILE] [--passphrase-file F]'

/*
 * Operator actions on every node's certificate, as CA-signed notices (protocols/rotate-now):
 *
 * - `ca rotate-now`: every node (or the named ones) renews its certificate within a bounded time
 *   (its rotate-now spread, 30 s by default). Signed by the issuing CA.
 * - `ca trust-bundle`: the roots every node trusts from now on (CA rotation: first old + new,
 *   once all nodes rotated, only the new one). Signed by this CA's ROOT key.
 *
 * While `ca serve` runs, the command goes to it over DIR/admin.sock and its mesh node pushes the
 * notice to its peers at once (each forwards it once). Without a running service the notice is
 * signed here and stored: the service hands it out at GET /v1/notices (nodes poll it), and
 * `--out` writes it to a file to carry across an air gap.
 */

interface NoticeArgs { dir: string, ttlMs?: number, out?: string }

function common (values: { dir?: string, ttl?: string, out?: string }): NoticeArgs {
  const dir = required(values.dir, '--dir')
  return { dir, ...(values.ttl != null ? { ttlMs: parseDuration(values.ttl) * 1000 } : {}), ...(values.out != null ? { out: values.out } : {}) }
}

function rotateArgs (args: string[]): NoticeArgs & { targets?: string[] } {
  const { values } = parse(args, {
    dir: { type: 'string' },
    'node-id': { type: 'string', multiple: true, default: [] },
    all: { type: 'boolean', default: false },
    ttl: { type: 'string' },
    out: { type: 'string' },
    'passphrase-file': { type: 'string' }
  })
  const ids = values['node-id'] ?? []
  if ((ids.length > 0) === (values.all === true)) { throw new UsageError('give --node-id (one or more) or --all') }
  return { ...common(values), ...(ids.length > 0 ? { targets: ids } : {}) }
}

async function bundleArgs (args: string[]): Promise<NoticeArgs & { rootsPem: string, casPem?: string }> {
  const { values } = parse(args, {
    dir: { type: 'string' },
    roots: { type: 'string' },
    cas: { type: 'string' },
    ttl: { type: 'string' },
    out: { type: 'string' },
    'passphrase-file': { type: 'string' }
  })
  const rootsPem = await readFile(required(values.roots, '--roots'), 'utf8')
  const casPem = values.cas != null ? await readFile(values.cas, 'utf8') : undefined
  return { ...common(values), rootsPem, ...(casPem != null ? { casPem } : {}) }
}

async function report (io: CliIo, notice: Uint8Array, out: string | undefined, published: boolean): Promise<number> {
  const n = decodeNotice(notice).notice
  const what = n.kind === 'rotate-now' ? `for ${n.targets?.join(', ') ?? 'every node'}` : `with ${n.roots?.length ?? 0} root(s)`
  io.stdout.write(`${n.kind} notice seq ${n.seq} ${what}, expires ${new Date(n.exp).toISOString()}\n`)
  if (out != null) {
    await writeFile(out, notice, { mode: 0o644 })
    io.stdout.write(`written to ${out}\n`)
  }
  io.stdout.write(published
    ? 'published to the mesh by the running service\'s node\n'
    : 'stored: the enrollment service hands it out at GET /v1/notices (nodes poll it)\n')
  return EXIT.OK
}

/** `ca rotate-now`, with the CA opened here. */
export async function caRotateNow (args: string[], io: CliIo): Promise<number> {
  const a = rotateArgs(args)
  try {
    const notice = await withCa(a.dir, passphraseFile(args), io, async ca => createRotateNowNotice(ca, { ...(a.targets != null ? { targets: a.targets } : {}), ...(a.ttlMs != null ? { ttlMs: a.ttlMs } : {}) }, nowOf(io)))
    return await report(io, notice, a.out, false)
  } catch (err) {
    return reportError(io, err)
  }
}

/** `ca rotate-now` through the running service (which also publishes it on the mesh). */
export async function rotateNowViaSocket (client: AdminSocketClient, args: string[], io: CliIo): Promise<number> {
  const a = rotateArgs(args)
  try {
    return await report(io, await client.rotateNow({ ...(a.targets != null ? { targets: a.targets } : {}), ...(a.ttlMs != null ? { ttlMs: a.ttlMs } : {}) }), a.out, true)
  } catch (err) {
    return reportError(io, err)
  }
}

/** `ca trust-bundle`, with the CA opened here (the root key signs). */
export async function caTrustBundle (args: string[], io: CliIo): Promise<number> {
  try {
    const a = await bundleArgs(args)
    const notice = await withCa(a.dir, passphraseFile(args), io, async ca => createTrustBundleNotice(ca, { rootsPem: a.rootsPem, ...(a.casPem != null ? { casPem: a.casPem } : {}), ...(a.ttlMs != null ? { ttlMs: a.ttlMs } : {}) }, nowOf(io)))
    return await report(io, notice, a.out, false)
  } catch (err) {
    if (err instanceof UsageError) { throw err }
    return reportError(io, err)
  }
}

/** `ca trust-bundle` through the running service. */
export async function trustBundleViaSocket (client: AdminSocketClient, args: string[], io: CliIo): Promise<number> {
  try {
    const a = await bundleArgs(args)
    return await report(io, await client.trustBundle({ rootsPem: a.rootsPem, ...(a.casPem != null ? { casPem: a.casPem } : {}), ...(a.ttlMs != null ? { ttlMs: a.ttlMs } : {}) }), a.out, true)
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
