import { isRevocationReason, REVOCATION_REASONS } from '../../ca/index.ts'
import { EXIT, nowOf, parse, reportError, required, UsageError } from '../io.ts'
import { withCa } from './ca-common.ts'
import type { CliIo } from '../io.ts'

export const usage = `dadm-mesh ca revoke --dir DIR (--serial S | --node-id ID [--block-unknown]) [--reason ${Object.keys(REVOCATION_REASONS).join('|')}] [--passphrase-file F]`

/** The flags of `ca revoke`, shared with the path through a running service. */
export const REVOKE_OPTIONS = {
  dir: { type: 'string' },
  serial: { type: 'string' },
  'node-id': { type: 'string' },
  'block-unknown': { type: 'boolean', default: false },
  reason: { type: 'string', default: 'unspecified' },
  'passphrase-file': { type: 'string' }
} as const

/** What `ca revoke` was asked to do, checked; UsageError (exit 2) names the flag at fault. */
export function revokeArgs (args: string[]): { dir: string, serial?: string, nodeId?: string, blockUnknown: boolean, reason: keyof typeof REVOCATION_REASONS, passphraseFile?: string } {
  const { values } = parse(args, REVOKE_OPTIONS)
  const dir = required(values.dir, '--dir')
  if ((values.serial == null) === (values['node-id'] == null)) { throw new UsageError('give exactly one of --serial and --node-id') }
  const blockUnknown = values['block-unknown'] === true
  if (blockUnknown && values['node-id'] == null) { throw new UsageError('--block-unknown goes with --node-id') }
  const reason = values.reason ?? 'unspecified'
  if (!isRevocationReason(reason)) { throw new UsageError(`--reason must be one of ${Object.keys(REVOCATION_REASONS).join(', ')}`) }
  return {
    dir,
    ...(values.serial != null ? { serial: values.serial } : {}),
    ...(values['node-id'] != null ? { nodeId: values['node-id'] } : {}),
    blockUnknown,
    reason,
    ...(values['passphrase-file'] != null ? { passphraseFile: values['passphrase-file'] } : {})
  }
}

/** The lines `ca revoke` prints, whichever path it took. */
export function printRevoked (io: CliIo, a: { nodeId?: string, reason: string }, serials: string[]): void {
  for (const s of serials) { io.stdout.write(`revoked ${s} (${a.reason})\n`) }
  if (a.nodeId != null) {
    if (serials.length === 0) { io.stdout.write(`node_id ${a.nodeId} holds no certificate from this CA\n`) }
    io.stdout.write(`node_id ${a.nodeId} is blocked from new certificates (lift with: dadm-mesh ca unblock --node-id ${a.nodeId})\n`)
  }
}

/**
 * `ca revoke`: revokes a certificate by serial, or every certificate of a node_id (and blocks it).
 * A node_id this CA never issued to fails UNKNOWN_NODE_ID unless `--block-unknown`.
 */
export async function caRevoke (args: string[], io: CliIo): Promise<number> {
  const a = revokeArgs(args)
  try {
    return await withCa(a.dir, a.passphraseFile, io, async ca => {
      const now = nowOf(io)
      const { serials } = a.serial != null
        ? await ca.revoke({ serialHex: a.serial, reason: a.reason, now, by: 'operator-cli' })
        : await ca.revokeNodeId({ nodeId: a.nodeId as string, reason: a.reason, now, blockUnknown: a.blockUnknown, by: 'operator-cli' })
      printRevoked(io, a, serials)
      return EXIT.OK
    })
  } catch (err) {
    return reportError(io, err)
  }
}
