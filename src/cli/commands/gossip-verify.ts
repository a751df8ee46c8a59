import { EXIT, parseCommand, reportError, UsageError } from '../io.ts'
import { GOSSIP_VERIFY } from '../specs/gossip-verify.ts'
import { nodeRead } from './node-read.ts'
import type { GossipVerificationBody } from '../../daemon/api/routes/gossip.ts'
import type { CliIo } from '../io.ts'

/**
 * `gossip verify`: the running node checks a stored anomaly signature's origin proof again
 * (`GET /v1/mesh/gossip/:message_id/verify`). Exits 0 when it holds, 1 when it does not.
 */
export async function gossipVerify (args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommand(args, GOSSIP_VERIFY)
  if (values.dir == null) { throw new UsageError('--dir is required') }
  if (positionals.length !== 1) { throw new UsageError('give exactly one MESSAGE_ID') }
  const id = positionals[0]
  if (id.length > 128 || !/^[A-Za-z0-9._-]{1,64}:[A-Za-z0-9._-]+$/.test(id)) {
    throw new UsageError(`MESSAGE_ID ${JSON.stringify(id.slice(0, 140))} is not a message_id (ORIGIN:SUFFIX, as \`gossip list\` prints it)`)
  }
  try {
    const r = await nodeRead(values.dir, `/v1/mesh/gossip/${encodeURIComponent(id)}/verify`, io, values['passphrase-file']) as GossipVerificationBody
    if (values.json === true) {
      io.stdout.write(JSON.stringify(r, null, 2) + '\n')
    } else {
      io.stdout.write(r.valid
        ? `valid: ${r.message_id} signed by ${r.origin}${r.expired ? ' (expired)' : ''}\n`
        : `INVALID: ${r.message_id} from ${r.origin}: ${r.code ?? 'refused'}\n`)
    }
    return r.valid ? EXIT.OK : EXIT.FAIL
  } catch (err) {
    return reportError(io, err)
  }
}
