import { runSimCommand, SIM_USAGE } from '../../simulations/cli/command.ts'
import { MeshError } from '../errors.ts'
import { bootstrapServer, usage as bootstrapServerUsage } from './commands/bootstrap-server.ts'
import { bundleList, bundleSend, listUsage as bundleListUsage, sendUsage as bundleSendUsage } from './commands/bundle.ts'
import { caAdminCert, usage as caAdminCertUsage } from './commands/ca-admin-cert.ts'
import { caCrl, usage as caCrlUsage } from './commands/ca-crl.ts'
import { caInit, usage as caInitUsage } from './commands/ca-init.ts'
import { caIssue, usage as caIssueUsage } from './commands/ca-issue.ts'
import { caRotateNow, caTrustBundle, rotateNowUsage, rotateNowViaSocket, trustBundleUsage, trustBundleViaSocket } from './commands/ca-notice.ts'
import { caRevoke, usage as caRevokeUsage } from './commands/ca-revoke.ts'
import { caServe, usage as caServeUsage } from './commands/ca-serve.ts'
import { caToken, usage as caTokenUsage } from './commands/ca-token.ts'
import { caUnblock, unblockViaSocket, usage as caUnblockUsage } from './commands/ca-unblock.ts'
import { crlViaSocket, revokeViaSocket, viaRunningService } from './commands/ca-via-service.ts'
import { certInspect, usage as certInspectUsage } from './commands/cert-inspect.ts'
import { certVerify, usage as certVerifyUsage } from './commands/cert-verify.ts'
import { csr, usage as csrUsage } from './commands/csr.ts'
import { gossipList, gossipPublish, listUsage as gossipListUsage, publishUsage as gossipPublishUsage } from './commands/gossip.ts'
import { keygen, usage as keygenUsage } from './commands/keygen.ts'
import { nodeEnroll, usage as nodeEnrollUsage } from './commands/node-enroll.ts'
import { nodePeers, usage as nodePeersUsage } from './commands/node-peers.ts'
import { nodeStart, usage as nodeStartUsage } from './commands/node-start.ts'
import { EXIT, exitCodeOf, UsageError } from './io.ts'
import type { CliIo, Command } from './io.ts'

export type { CliIo } from './io.ts'

/** Subcommands by their words; each is one file in ./commands. */
const COMMANDS: Record<string, { run: Command, usage: string }> = {
  'ca init': { run: caInit, usage: caInitUsage },
  'ca issue': { run: caIssue, usage: caIssueUsage },
  // While `ca serve` holds the store, these go to it over DIR/admin.sock.
  'ca revoke': { run: viaRunningService(caRevoke, revokeViaSocket), usage: caRevokeUsage },
  'ca unblock': { run: viaRunningService(caUnblock, unblockViaSocket), usage: caUnblockUsage },
  'ca crl': { run: viaRunningService(caCrl, crlViaSocket), usage: caCrlUsage },
  // CA-signed notices; through a running `ca serve` they go onto the mesh at once.
  'ca rotate-now': { run: viaRunningService(caRotateNow, rotateNowViaSocket), usage: rotateNowUsage },
  'ca trust-bundle': { run: viaRunningService(caTrustBundle, trustBundleViaSocket), usage: trustBundleUsage },
  'ca serve': { run: caServe, usage: caServeUsage },
  'ca token': { run: caToken, usage: caTokenUsage },
  'ca admin-cert': { run: caAdminCert, usage: caAdminCertUsage },
  'node enroll': { run: nodeEnroll, usage: nodeEnrollUsage },
  'node start': { run: nodeStart, usage: nodeStartUsage },
  'node peers': { run: nodePeers, usage: nodePeersUsage },
  'gossip publish': { run: gossipPublish, usage: gossipPublishUsage },
  'gossip list': { run: gossipList, usage: gossipListUsage },
  'bundle send': { run: bundleSend, usage: bundleSendUsage },
  'bundle list': { run: bundleList, usage: bundleListUsage },
  'bootstrap-server': { run: bootstrapServer, usage: bootstrapServerUsage },
  'cert verify': { run: certVerify, usage: certVerifyUsage },
  'cert inspect': { run: certInspect, usage: certInspectUsage },
  keygen: { run: keygen, usage: keygenUsage },
  csr: { run: csr, usage: csrUsage },
  sim: { run: runSimCommand, usage: SIM_USAGE }
}

function help (): string {
  return 'usage:\n' + Object.values(COMMANDS).map(c => `  ${c.usage}\n`).join('') +
    'Key files are encrypted with the passphrase from DADM_MESH_PASSPHRASE or --passphrase-file.\n' +
    'The admin key of `ca admin-cert` has its own: DADM_MESH_ADMIN_KEY_PASSPHRASE or --key-passphrase-file.\n' +
    'Passphrase and PIN files must not be readable by group or others (chmod 600).\n'
}

/** The `dadm-mesh` command line: dispatches to a subcommand and returns its exit code. */
export async function main (argv: string[], io: CliIo): Promise<number> {
  if (argv.length === 0 || argv[0] === 'help' || argv[0] === '--help' || argv[0] === '-h') {
    (argv.length === 0 ? io.stderr : io.stdout).write(help())
    return argv.length === 0 ? EXIT.USAGE : EXIT.OK
  }
  const two = argv.slice(0, 2).join(' ')
  const [name, rest] = COMMANDS[two] != null ? [two, argv.slice(2)] : [argv[0], argv.slice(1)]
  const command = COMMANDS[name]
  if (command == null) {
    io.stderr.write(`unknown command: ${argv.slice(0, 2).join(' ')}\n${help()}`)
    return EXIT.USAGE
  }
  try {
    return await command.run(rest, io)
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`error: ${err.message}\nusage: ${command.usage}\n`)
      return EXIT.USAGE
    }
    if (err instanceof MeshError) {
      io.stderr.write(`error: ${err.code}: ${err.message}\n`)
      return exitCodeOf(err)
    }
    io.stderr.write(`error: ${(err as Error).message}\n`)
    return EXIT.FAIL
  }
}
