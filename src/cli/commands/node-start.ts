import { NODE_RUN_FLAGS, runNode } from './node-run.ts'
import type { CliIo } from '../io.ts'

export const usage = `dadm-mesh node start ${NODE_RUN_FLAGS}`

/**
 * `node start`: runs the enrolled node in NODEDIR (QUIC, TCP+TLS fallback, mesh auth, DHT,
 * mDNS, bootstrap, CRL poll, admin API) until SIGTERM or SIGINT. Writes NODEDIR/run.json so that
 * `node peers` and later commands find it.
 */
export async function nodeStart (args: string[], io: CliIo): Promise<number> {
  return runNode('node', args, io, {})
}
