import { runNode } from './node-run.ts'
import type { MeshNodeConfig } from '../../node/config.ts'
import type { CliIo } from '../io.ts'

/**
 * What `node start` adds to the library defaults: UPnP port mapping on, since a member is most
 * often behind a site router, and a router that answers UPnP makes it directly reachable
 * (`--no-upnp` turns it off). A bootstrap server has a public address and leaves it off.
 */
export const NODE_START_PROFILE: MeshNodeConfig = { upnp: { enabled: true } }

/**
 * `node start`: runs the enrolled node in NODEDIR (QUIC, TCP+TLS fallback, mesh auth, DHT,
 * mDNS, bootstrap, CRL poll, admin API) until SIGTERM or SIGINT. Writes NODEDIR/run.json so that
 * `node peers` and later commands find it.
 */
export async function nodeStart (args: string[], io: CliIo): Promise<number> {
  return runNode('node', args, io, NODE_START_PROFILE)
}
