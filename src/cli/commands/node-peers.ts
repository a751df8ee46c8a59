import { nodeApiGet } from '../../daemon/api/client.ts'
import { NodeRuntimeError } from '../../daemon/runtime/errors.ts'
import { openNodeCredentials } from '../../daemon/runtime/node-dir.ts'
import { requireRunningNode } from '../../daemon/runtime/run-file.ts'
import { requirePassphrase } from '../../identity/passphrase.ts'
import { issueSessionCredential } from '../../pki/session-cert.ts'
import { EXIT, nowOf, parse, reportError, required } from '../io.ts'
import type { PeerTableRow } from '../../node/peer-table.ts'
import type { CliIo } from '../io.ts'

export const usage = 'dadm-mesh node peers --dir NODEDIR [--json] [--passphrase-file F]'

/** Lifetime of the session certificate `node peers` signs for its one request. */
const CLIENT_SESSION_MS = 5 * 60_000

const COLUMNS: Array<[string, keyof PeerTableRow]> = [
  ['NODE_ID', 'node_id'], ['PEER_ID', 'peer_id'], ['STATUS', 'status'], ['TRANSPORT', 'transport'],
  ['LAST_SEEN', 'last_seen'], ['CERT_SERIAL', 'cert_serial'], ['CERT_NOT_AFTER', 'cert_not_after']
]

/**
 * `node peers`: the running node's mesh peer table, from its admin API (found through
 * NODEDIR/run.json) over mutual TLS as the node itself: the identity key signs a short session
 * certificate, and the server must prove it is the node of NODEDIR. Never opens the node's LevelDB.
 */
export async function nodePeers (args: string[], io: CliIo): Promise<number> {
  const { values } = parse(args, {
    dir: { type: 'string' },
    json: { type: 'boolean', default: false },
    'passphrase-file': { type: 'string' }
  })
  const dir = required(values.dir, '--dir')
  try {
    const run = await requireRunningNode(dir)
    if (run.api_url == null) { throw new NodeRuntimeError('NOT_RUNNING', `the node in ${dir} runs without its admin API (--no-api)`) }
    const passphrase = await requirePassphrase({ env: io.env, passphraseFile: values['passphrase-file'] })
    const creds = await openNodeCredentials(dir, passphrase, { env: io.env })
    const now = nowOf(io)
    let credential
    try {
      credential = await issueSessionCredential({ signer: creds.identity.signer(), nodeChain: creds.chain, now, validityMs: CLIENT_SESSION_MS })
    } finally {
      // The identity key signed the session; a PKCS#11 session need not stay open for the request.
      await creds.closeIdentity()
    }
    const rows = await nodeApiGet('/v1/mesh/peers', {
      url: run.api_url,
      credential,
      expectedPeerId: creds.file.peer_id,
      expectedNodeId: creds.file.node_id,
      roots: creds.roots,
      intermediates: creds.intermediates,
      now: () => nowOf(io)
    }) as PeerTableRow[]
    io.stdout.write(values.json === true ? JSON.stringify(rows, null, 2) + '\n' : formatTable(rows))
    return EXIT.OK
  } catch (err) {
    return reportError(io, err)
  }
}

/** Fixed-width columns, one peer per line, sorted by node_id. */
export function formatTable (rows: PeerTableRow[]): string {
  const sorted = [...rows].sort((a, b) => a.node_id.localeCompare(b.node_id))
  const cells = [COLUMNS.map(c => c[0]), ...sorted.map(r => COLUMNS.map(c => String(r[c[1]])))]
  const widths = COLUMNS.map((_, i) => Math.max(...cells.map(row => row[i].length)))
  const lines = cells.map(row => row.map((v, i) => i === row.length - 1 ? v : v.padEnd(widths[i])).join('  '))
  return lines.join('\n') + '\n' + (rows.length === 0 ? '(no peers yet)\n' : '')
}
