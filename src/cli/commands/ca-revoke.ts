import { isRevocationReason, REVOCATION_REASONS } from '../../pki/ca/index.ts'
import { EXIT, nowOf, parse, reportError, required, UsageError } from '../io.ts'
import { withCa } from './ca-common.ts'
import type { CliIo } from '../io.ts'

export const usage = `dadm-mesh ca revoke --dir DIR (--serial S | --node-id ID) [--reason ${Object.keys(REVOCATION_REASONS).join('|')}] [--passphrase-file F]`

/** `ca revoke`: revokes a certificate by serial, or every certificate of a node_id (and blocks it). */
export async function caRevoke (args: string[], io: CliIo): Promise<number> {
  const { values } = parse(args, {
    dir: { type: 'string' },
    serial: { type: 'string' },
    'node-id': { type: 'string' },
    reason: { type: 'string', default: 'unspecified' },
    'passphrase-file': { type: 'string' }
  })
  const dir = required(values.dir, '--dir')
  if ((values.serial == null) === (values['node-id'] == null)) { throw new UsageError('give exactly one of --serial and --node-id') }
  const reason = values.reason ?? 'unspecified'
  if (!isRevocationReason(reason)) { throw new UsageError(`--reason must be one of ${Object.keys(REVOCATION_REASONS).join(', ')}`) }
  try {
    return await withCa(dir, values['passphrase-file'], io, async ca => {
      const now = nowOf(io)
      const { serials } = values.serial != null
        ? await ca.revoke({ serialHex: values.serial, reason, now })
        : await ca.revokeNodeId({ nodeId: values['node-id'] as string, reason, now })
      for (const s of serials) { io.stdout.write(`revoked ${s} (${reason})\n`) }
      if (values['node-id'] != null) { io.stdout.write(`node_id ${values['node-id']} is blocked from new certificates\n`) }
      return EXIT.OK
    })
  } catch (err) {
    return reportError(io, err)
  }
}
