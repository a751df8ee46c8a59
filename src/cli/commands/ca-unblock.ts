import { isValidNodeId } from '../../pki/node-identity.ts'
import { EXIT, nowOf, parseCommand, reportError, required, UsageError } from '../io.ts'
import { CA_UNBLOCK } from '../specs/ca-unblock.ts'
import { withCa } from './ca-common.ts'
import type { AdminSocketClient } from '../../enrollment/admin-client.ts'
import type { CliIo } from '../io.ts'

function unblockArgs (args: string[]): { dir: string, nodeId: string, passphraseFile?: string, json: boolean } {
  const { values } = parseCommand(args, CA_UNBLOCK)
  const dir = required(values.dir, '--dir')
  const nodeId = required(values['node-id'], '--node-id')
  if (!isValidNodeId(nodeId)) { throw new UsageError(`--node-id ${JSON.stringify(nodeId)} is not a valid node_id`) }
  return { dir, nodeId, json: values.json, ...(values['passphrase-file'] != null ? { passphraseFile: values['passphrase-file'] } : {}) }
}

function printUnblocked (io: CliIo, nodeId: string, json: boolean): void {
  if (json) {
    io.stdout.write(JSON.stringify({ node_id: nodeId, blocked: false }) + '\n')
    return
  }
  io.stdout.write(`node_id ${nodeId} is no longer blocked: it may enroll again with a new token (its revoked certificates stay revoked)\n`)
}

/**
 * `ca unblock`: lifts the block `ca revoke --node-id` put on a node_id. Its certificates stay
 * revoked; the node enrolls again with a fresh token. A node_id that is not blocked fails
 * NODE_NOT_BLOCKED (exit 1), so a typo does not pass for success.
 */
export async function caUnblock (args: string[], io: CliIo): Promise<number> {
  const a = unblockArgs(args)
  try {
    return await withCa(a.dir, a.passphraseFile, io, async ca => {
      await ca.unblockNodeId(a.nodeId, nowOf(io))
      printUnblocked(io, a.nodeId, a.json)
      return EXIT.OK
    })
  } catch (err) {
    return reportError(io, err)
  }
}

/** `ca unblock` through the running service (which logs it as `local-admin-socket`). */
export async function unblockViaSocket (client: AdminSocketClient, args: string[], io: CliIo): Promise<number> {
  const a = unblockArgs(args)
  try {
    await client.unblockNode({ nodeId: a.nodeId })
    printUnblocked(io, a.nodeId, a.json)
    return EXIT.OK
  } catch (err) {
    return reportError(io, err)
  }
}
