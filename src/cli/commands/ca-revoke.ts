import { isRevocationReason, REVOCATION_REASONS } from '../../ca/index.ts'
import { EXIT, nowOf, parseCommand, reportError, required, UsageError } from '../io.ts'
import { CA_REVOKE } from '../specs/ca-revoke.ts'
import { withCa } from './ca-common.ts'
import type { CliIo } from '../io.ts'

/** What `ca revoke` was asked to do, checked; UsageError (exit 2) names the flag at fault. */
export function revokeArgs (args: string[]): { dir: string, serial?: string, nodeId?: string, blockUnknown: boolean, reason: keyof typeof REVOCATION_REASONS, passphraseFile?: string, json: boolean } {
  const { values } = parseCommand(args, CA_REVOKE)
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
    json: values.json,
    ...(values['passphrase-file'] != null ? { passphraseFile: values['passphrase-file'] } : {})
  }
}

/** The lines `ca revoke` prints, whichever path it took. */
export function printRevoked (io: CliIo, a: { nodeId?: string, reason: string, json?: boolean }, serials: string[]): void {
  if (a.json === true) {
    io.stdout.write(JSON.stringify({ revoked: serials, reason: a.reason, ...(a.nodeId != null ? { node_id: a.nodeId, blocked: true } : {}) }, null, 2) + '\n')
    return
  }
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
