import { createHash } from 'node:crypto'
import { open, stat } from 'node:fs/promises'
import { BUNDLE_BODY_LIMIT } from '../../daemon/api/routes/bundles.ts'
import { parseBundleId } from '../../dtn/bundle-id.ts'
import { MeshError } from '../../errors.ts'
import { EXIT, parseCommand, reportError, UsageError } from '../io.ts'
import { BUNDLE_GET } from '../specs/bundle-get.ts'
import { nodeRead } from './node-read.ts'
import type { InboxRow } from '../../daemon/runtime/dtn-listing.ts'
import type { CliIo } from '../io.ts'

export type BundleGetErrorCode =
  | 'BUNDLE_NOT_FOUND' // no bundle of that id was delivered to this node (or it expired)
  | 'OUT_EXISTS' // --out names an existing file
  | 'PAYLOAD_MISMATCH' // the payload does not hash to the node's record of it

export class BundleGetError extends MeshError<BundleGetErrorCode> {
  static name = 'BundleGetError'
}

/** The largest payload travels as base64 in JSON: the response may be as large as the POST body. */
const GET_MAX_BYTES = BUNDLE_BODY_LIMIT + 64 * 1024
/** A 16 MiB payload over the API, and a slow disk under it. */
const GET_TIMEOUT_MS = 60_000

/**
 * `bundle get`: one bundle delivered to the running node (`GET /v1/bundles/{id}` over mutual TLS,
 * as the node itself). The payload is checked against the SHA-256 the node recorded, then written
 * to --out (created 0600, never over an existing file) or to stdout.
 */
export async function bundleGet (args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommand(args, BUNDLE_GET)
  if (positionals.length !== 1) { throw new UsageError('give exactly one BUNDLE_ID') }
  const id = positionals[0]
  try {
    parseBundleId(id)
  } catch {
    throw new UsageError(`BUNDLE_ID ${JSON.stringify(id.slice(0, 120))} is not a bundle_id (SOURCE:CREATED_MS:SEQ, as \`bundle list\` prints it)`)
  }
  const out = values.out
  try {
    // Refused before the node is asked: nothing is fetched that could not be written.
    if (out != null && await stat(out).then(() => true, () => false)) { throw new BundleGetError('OUT_EXISTS', `--out ${out} exists; give a new file name`) }
    let r: InboxRow & { payload: string }
    try {
      r = await nodeRead(values.dir as string, `/v1/bundles/${encodeURIComponent(id)}`, io, values['passphrase-file'], { maxBytes: GET_MAX_BYTES, timeoutMs: GET_TIMEOUT_MS }) as InboxRow & { payload: string }
    } catch (err) {
      if ((err as { serverCode?: string }).serverCode === 'NOT_FOUND') { throw new BundleGetError('BUNDLE_NOT_FOUND', `no bundle ${id} was delivered to the node of ${values.dir as string} (\`bundle list\` shows what it holds)`, { cause: err }) }
      throw err
    }
    const payload = Buffer.from(r.payload, 'base64')
    if (createHash('sha256').update(payload).digest('hex') !== r.sha256 || payload.length !== r.size) {
      throw new BundleGetError('PAYLOAD_MISMATCH', `the payload of ${id} does not match the node's record of its size and SHA-256; nothing was written`)
    }
    if (out != null) {
      const fh = await open(out, 'wx', 0o600).catch((err: NodeJS.ErrnoException) => {
        throw err.code === 'EEXIST' ? new BundleGetError('OUT_EXISTS', `--out ${out} exists; give a new file name`) : err
      })
      try {
        await fh.writeFile(payload)
        await fh.sync()
      } finally {
        await fh.close()
      }
    }
    if (values.json === true) {
      // With --out the payload is in the file; the record says where.
      const { payload: b64, ...row } = r
      io.stdout.write(JSON.stringify(out != null ? { ...row, written_to: out } : { ...row, payload: b64 }, null, 2) + '\n')
      return EXIT.OK
    }
    if (out == null) { io.stdout.write(payload as unknown as string) }
    io.stderr.write(`bundle ${r.bundle_id} from ${r.source}: ${r.size} bytes, sha256 ${r.sha256}, delivered ${r.delivered_at}${out != null ? `, written to ${out}` : ''}\n`)
    return EXIT.OK
  } catch (err) {
    return reportError(io, err)
  }
}
