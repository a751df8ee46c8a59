import { join } from 'node:path'

/**
 * Where the node's local read socket lives: its own module, so the CLI finds the socket without
 * loading the server (fastify) that serves it.
 */
export const NODE_API_SOCKET_NAME = 'api.sock'

/** NODEDIR/api.sock of the node in `dir`. */
export function nodeApiSocketPath (dir: string): string {
  return join(dir, NODE_API_SOCKET_NAME)
}
