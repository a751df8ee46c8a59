import { nodeApiSocketPath } from '../../daemon/api/local-socket-path.ts'
import { NodeSocketClientError, nodeSocketGet } from '../../daemon/api/socket-client.ts'
import type { CliIo } from '../io.ts'

/**
 * One read-only query to the running node of NODEDIR: over its local socket NODEDIR/api.sock when
 * it answers (no passphrase, no key: the file permissions already admit only the node's own uid),
 * else over the mTLS admin API as the node itself (the identity key signs a session certificate,
 * which needs the passphrase). The mTLS half is loaded only when it is used: it is what makes a
 * command slow to start.
 */
export async function nodeRead (dir: string, path: string, io: CliIo, passphraseFile: string | undefined, limits: { timeoutMs?: number, maxBytes?: number } = {}): Promise<unknown> {
  try {
    return await nodeSocketGet(nodeApiSocketPath(dir), path, limits)
  } catch (err) {
    if (!(err instanceof NodeSocketClientError) || err.code !== 'SOCKET_UNAVAILABLE') { throw err }
  }
  const [{ nodeApiSession }, { nodeApiGet }] = await Promise.all([import('./node-api-session.ts'), import('../../daemon/api/client.ts')])
  const session = await nodeApiSession(dir, io, passphraseFile)
  return nodeApiGet(path, { ...session, ...limits })
}
