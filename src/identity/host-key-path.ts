import { join } from 'node:path'

/*
 * Where the libp2p host key lives, apart from the code that makes and opens it: the CLI's
 * read-only commands name node files without loading libp2p's key code.
 */

/** The key-store label of the libp2p host key, and its file name (`<label>.key`) under a node directory's `keys/`. */
export const HOST_KEY_LABEL = 'host'

/** Where an enrolled node directory keeps its host key: `<dir>/keys/host.key`. */
export function hostKeyPath (dir: string): string {
  return join(dir, 'keys', `${HOST_KEY_LABEL}.key`)
}
