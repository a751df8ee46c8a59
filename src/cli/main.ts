import { MeshError } from '../errors.ts'
import { commandHelp, overallHelp, synopsis } from './help.ts'
import { EXIT, exitCodeOf, UsageError } from './io.ts'
import { BOOTSTRAP_SERVER } from './specs/bootstrap-server.ts'
import { BUNDLE_GET } from './specs/bundle-get.ts'
import { BUNDLE_LIST } from './specs/bundle-list.ts'
import { BUNDLE_SEND } from './specs/bundle-send.ts'
import { CA_ADMIN_CERT } from './specs/ca-admin-cert.ts'
import { CA_BACKUP } from './specs/ca-backup.ts'
import { CA_CRL } from './specs/ca-crl.ts'
import { CA_INIT } from './specs/ca-init.ts'
import { CA_ISSUE } from './specs/ca-issue.ts'
import { CA_LIST_CERTS } from './specs/ca-list-certs.ts'
import { CA_LIST_NODES } from './specs/ca-list-nodes.ts'
import { CA_RESTORE } from './specs/ca-restore.ts'
import { CA_REVOKE } from './specs/ca-revoke.ts'
import { CA_ROTATE_NOW } from './specs/ca-rotate-now.ts'
import { CA_SERVE } from './specs/ca-serve.ts'
import { CA_STATUS } from './specs/ca-status.ts'
import { CA_TOKEN } from './specs/ca-token.ts'
import { CA_TRUST_BUNDLE } from './specs/ca-trust-bundle.ts'
import { CA_UNBLOCK } from './specs/ca-unblock.ts'
import { CERT_INSPECT } from './specs/cert-inspect.ts'
import { CERT_VERIFY } from './specs/cert-verify.ts'
import { CSR } from './specs/csr.ts'
import { GOSSIP_LIST } from './specs/gossip-list.ts'
import { GOSSIP_PUBLISH } from './specs/gossip-publish.ts'
import { GOSSIP_SIGN } from './specs/gossip-sign.ts'
import { GOSSIP_VERIFY } from './specs/gossip-verify.ts'
import { KEYGEN } from './specs/keygen.ts'
import { NODE_ENROLL } from './specs/node-enroll.ts'
import { NODE_PEERS } from './specs/node-peers.ts'
import { NODE_START } from './specs/node-start.ts'
import { NODE_STATUS } from './specs/node-status.ts'
import { packageVersion } from './version.ts'
import type { CliIo, Command } from './io.ts'
import type { CommandSpec } from './specs/spec.ts'

export type { CliIo } from './io.ts'

/**
 * A subcommand: its declared spec (options, help) and how to load its code. The code is imported
 * only when the command runs, so `--help` and the light commands do not pay for libp2p, fastify or
 * the CA. `ownHelp` marks a command that parses its own command line (the simulation harness).
 */
export interface CommandEntry { spec: CommandSpec, load(): Promise<Command>, ownHelp?: boolean }

/** The simulation harness has its own parser and help (simulations/cli/args.ts). */
const SIM: CommandSpec = { name: 'sim', summary: 'run the mesh simulation harness (`dadm-mesh sim --help` for its options)', options: {}, examples: ['dadm-mesh sim --scenario partition --nodes 50'] }

/** Subcommands by their words; each is one file in ./commands and one spec in ./specs. */
export const COMMANDS: Record<string, CommandEntry> = {
  'ca init': { spec: CA_INIT, load: async () => (await import('./commands/ca-init.ts')).caInit },
  'ca issue': { spec: CA_ISSUE, load: async () => (await import('./commands/ca-issue.ts')).caIssue },
  // While `ca serve` holds the store, these go to it over DIR/admin.sock.
  'ca revoke': { spec: CA_REVOKE, load: async () => { const v = await via(); return v.viaRunningService((await import('./commands/ca-revoke.ts')).caRevoke, v.revokeViaSocket) } },
  'ca unblock': { spec: CA_UNBLOCK, load: async () => { const m = await import('./commands/ca-unblock.ts'); return (await via()).viaRunningService(m.caUnblock, m.unblockViaSocket) } },
  'ca crl': { spec: CA_CRL, load: async () => { const v = await via(); return v.viaRunningService((await import('./commands/ca-crl.ts')).caCrl, v.crlViaSocket) } },
  // CA-signed notices; through a running `ca serve` they go onto the mesh at once.
  'ca rotate-now': { spec: CA_ROTATE_NOW, load: async () => { const m = await import('./commands/ca-notice.ts'); return (await via()).viaRunningService(m.caRotateNow, m.rotateNowViaSocket) } },
  'ca trust-bundle': { spec: CA_TRUST_BUNDLE, load: async () => { const m = await import('./commands/ca-notice.ts'); return (await via()).viaRunningService(m.caTrustBundle, m.trustBundleViaSocket) } },
  'ca serve': { spec: CA_SERVE, load: async () => (await import('./commands/ca-serve.ts')).caServe },
  'ca status': { spec: CA_STATUS, load: async () => (await import('./commands/ca-status.ts')).caStatus },
  'ca token': { spec: CA_TOKEN, load: async () => (await import('./commands/ca-token.ts')).caToken },
  'ca admin-cert': { spec: CA_ADMIN_CERT, load: async () => (await import('./commands/ca-admin-cert.ts')).caAdminCert },
  // Inventory and backup read the store only (no passphrase); through a running `ca serve` when one answers.
  'ca list-certs': { spec: CA_LIST_CERTS, load: async () => (await import('./commands/ca-inventory.ts')).caListCerts },
  'ca list-nodes': { spec: CA_LIST_NODES, load: async () => (await import('./commands/ca-inventory.ts')).caListNodes },
  'ca backup': { spec: CA_BACKUP, load: async () => (await import('./commands/ca-backup.ts')).caBackup },
  'ca restore': { spec: CA_RESTORE, load: async () => (await import('./commands/ca-backup.ts')).caRestore },
  'node enroll': { spec: NODE_ENROLL, load: async () => (await import('./commands/node-enroll.ts')).nodeEnroll },
  'node start': { spec: NODE_START, load: async () => (await import('./commands/node-start.ts')).nodeStart },
  'node peers': { spec: NODE_PEERS, load: async () => (await import('./commands/node-peers.ts')).nodePeers },
  'node status': { spec: NODE_STATUS, load: async () => (await import('./commands/node-status.ts')).nodeStatus },
  'gossip publish': { spec: GOSSIP_PUBLISH, load: async () => (await import('./commands/gossip.ts')).gossipPublish },
  'gossip list': { spec: GOSSIP_LIST, load: async () => (await import('./commands/gossip.ts')).gossipList },
  'gossip sign': { spec: GOSSIP_SIGN, load: async () => (await import('./commands/gossip-sign.ts')).gossipSign },
  'gossip verify': { spec: GOSSIP_VERIFY, load: async () => (await import('./commands/gossip-verify.ts')).gossipVerify },
  'bundle send': { spec: BUNDLE_SEND, load: async () => (await import('./commands/bundle.ts')).bundleSend },
  'bundle list': { spec: BUNDLE_LIST, load: async () => (await import('./commands/bundle.ts')).bundleList },
  'bundle get': { spec: BUNDLE_GET, load: async () => (await import('./commands/bundle-get.ts')).bundleGet },
  'bootstrap-server': { spec: BOOTSTRAP_SERVER, load: async () => (await import('./commands/bootstrap-server.ts')).bootstrapServer },
  'cert verify': { spec: CERT_VERIFY, load: async () => (await import('./commands/cert-verify.ts')).certVerify },
  'cert inspect': { spec: CERT_INSPECT, load: async () => (await import('./commands/cert-inspect.ts')).certInspect },
  keygen: { spec: KEYGEN, load: async () => (await import('./commands/keygen.ts')).keygen },
  csr: { spec: CSR, load: async () => (await import('./commands/csr.ts')).csr },
  sim: { spec: SIM, ownHelp: true, load: async () => (await import('../../simulations/cli/command.ts')).runSimCommand }
}

/** The wrapper that sends a command which opens the CA store to a running `ca serve` instead, when one answers. */
async function via (): Promise<typeof import('./commands/ca-via-service.ts')> {
  return import('./commands/ca-via-service.ts')
}

/** True when the command line asks for help (before a `--`, after which everything is an argument). */
function wantsHelp (args: string[]): boolean {
  const end = args.indexOf('--')
  return (end < 0 ? args : args.slice(0, end)).some(a => a === '--help' || a === '-h')
}

/** The `dadm-mesh` command line: dispatches to a subcommand and returns its exit code. */
export async function main (argv: string[], io: CliIo): Promise<number> {
  const list = Object.values(COMMANDS).map(c => c.spec)
  if (argv.length === 0 || argv[0] === 'help' || argv[0] === '--help' || argv[0] === '-h') {
    (argv.length === 0 ? io.stderr : io.stdout).write(overallHelp(list))
    return argv.length === 0 ? EXIT.USAGE : EXIT.OK
  }
  if (argv[0] === '--version' || argv[0] === 'version') {
    io.stdout.write(`dadm-mesh ${packageVersion()} (node ${process.version})\n`)
    return EXIT.OK
  }
  const two = argv.slice(0, 2).join(' ')
  const [name, rest] = COMMANDS[two] != null ? [two, argv.slice(2)] : [argv[0], argv.slice(1)]
  const command = COMMANDS[name]
  if (command == null) {
    io.stderr.write(`error: unknown command: ${argv.slice(0, 2).join(' ')}\n${overallHelp(list)}`)
    return EXIT.USAGE
  }
  if (command.ownHelp !== true && wantsHelp(rest)) {
    io.stdout.write(commandHelp(command.spec))
    return EXIT.OK
  }
  try {
    return await (await command.load())(rest, io)
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`error: ${err.message}\nusage: ${synopsis(command.spec)}\n(dadm-mesh ${name} --help lists every option)\n`)
      return EXIT.USAGE
    }
    if (err instanceof MeshError) {
      io.stderr.write(`error: ${err.code}: ${err.message}\n`)
      return exitCodeOf(err)
    }
    // Not an expected failure, yet still one line: the operator gets the message, not a stack trace.
    const e = err as NodeJS.ErrnoException
    io.stderr.write(`error: ${e.code ?? 'FAILED'}: ${e.message}\n`)
    return EXIT.FAIL
  }
}
