import { EXIT, parseCommand, reportError, required } from '../io.ts'
import { NODE_PEERS } from '../specs/node-peers.ts'
import { nodeRead } from './node-read.ts'
import type { PeerTableRow } from '../../node/peer-table.ts'
import type { CliIo } from '../io.ts'

const COLUMNS: Array<[string, keyof PeerTableRow]> = [
  ['NODE_ID', 'node_id'], ['PEER_ID', 'peer_id'], ['STATUS', 'status'], ['TRANSPORT', 'transport'],
  ['LAST_SEEN', 'last_seen'], ['CERT_SERIAL', 'cert_serial'], ['CERT_NOT_AFTER', 'cert_not_after']
]

/**
 * `node peers`: the running node's mesh peer table. Asked on NODEDIR/api.sock when the node
 * answers there (same uid, no passphrase); else over its admin API (found through
 * NODEDIR/run.json) by mutual TLS as the node itself: the identity key signs a short session
 * certificate, and the server must prove it is the node of NODEDIR. Never opens the node's LevelDB.
 */
export async function nodePeers (args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommand(args, NODE_PEERS)
  const dir = required(values.dir, '--dir')
  try {
    const rows = await nodeRead(dir, '/v1/mesh/peers', io, values['passphrase-file']) as PeerTableRow[]
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
