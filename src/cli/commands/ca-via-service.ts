import { AdminSocketClient } from '../../enrollment/admin-client.ts'
import { EXIT, nowOf, parseCommand, reportError, required } from '../io.ts'
import { CA_CRL } from '../specs/ca-crl.ts'
import { refuseWrongPassphrase } from './ca-admin.ts'
import { printRevoked, revokeArgs } from './ca-revoke.ts'
import type { CliIo, Command } from '../io.ts'

/** The value of `flag` in `args` (either `FLAG X` or `FLAG=X`), if any. */
function flagValue (args: string[], flag: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === flag) { return args[i + 1] }
    if (args[i].startsWith(`${flag}=`)) { return args[i].slice(flag.length + 1) }
  }
  return undefined
}

function dirOf (args: string[]): string | undefined {
  return flagValue(args, '--dir')
}

/**
 * Wraps a command that opens the CA store itself (`ca revoke`, `ca crl`): when a `ca serve`
 * answers on `DIR/admin.sock` (and so holds the store), the operation goes to it instead.
 */
export function viaRunningService (direct: Command, viaSocket: (client: AdminSocketClient, args: string[], io: CliIo) => Promise<number>): Command {
  return async (args, io) => {
    const dir = dirOf(args)
    const client = dir != null && dir !== '' ? await AdminSocketClient.connect(dir) : undefined
    if (client == null) { return direct(args, io) }
    try {
      await refuseWrongPassphrase(client, io, flagValue(args, '--passphrase-file'))
    } catch (err) {
      return reportError(io, err)
    }
    return viaSocket(client, args, io)
  }
}

/** `ca revoke` through the running service; same flags and output as the direct command. */
export async function revokeViaSocket (client: AdminSocketClient, args: string[], io: CliIo): Promise<number> {
  const a = revokeArgs(args)
  try {
    const { serials } = await client.revoke({
      ...(a.serial != null ? { serialHex: a.serial.replace(/:/g, '').toLowerCase() } : {}),
      ...(a.nodeId != null ? { nodeId: a.nodeId } : {}),
      ...(a.blockUnknown ? { blockUnknown: true } : {}),
      reason: a.reason
    })
    printRevoked(io, a, serials)
    return EXIT.OK
  } catch (err) {
    return reportError(io, err)
  }
}

/** `ca crl` through the running service: prints the current CRL as PEM. */
export async function crlViaSocket (client: AdminSocketClient, args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommand(args, CA_CRL)
  required(values.dir, '--dir')
  try {
    io.stdout.write(await client.crlPem(nowOf(io), values.root === true ? 'root' : 'issuing'))
    return EXIT.OK
  } catch (err) {
    return reportError(io, err)
  }
}
