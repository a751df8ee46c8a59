import type { NodeDir } from './node-dir.ts'
import type { MeshNodeConfig } from '../../node/config.ts'

/** node.json's bootstrap peers plus the caller's, without our own address (a bootstrap server lists itself). */
export function meshOptions (nd: NodeDir, config: MeshNodeConfig = {}): MeshNodeConfig {
  const self = `/p2p/${nd.peerId}`
  const bootstrap = [...new Set([...nd.file.config.bootstrap_peers, ...(config.bootstrap ?? [])])].filter(a => !a.endsWith(self))
  // The CA's gossip_fanout is the node's gossipsub D unless the caller set one.
  const fanout = config.gossip?.fanout ?? nd.file.config.gossip_fanout
  return { ...config, bootstrap, gossip: { ...config.gossip, fanout } }
}

/** The root-scope CRL next to the issuing CA's (`GET /v1/crl?scope=root`). */
export function rootCrlUrl (crlUrl: string): string {
  const u = new URL(crlUrl)
  u.searchParams.set('scope', 'root')
  return u.toString()
}
