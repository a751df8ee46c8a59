import { join } from 'node:path'

/** Where a CA directory keeps its parts. */
export interface CaPaths {
  /** Settings and the node-facing mesh configuration. */
  config: string
  /** The trust anchor to hand out. */
  root: string
  /** The issuing CA's chain, issuer first, root last. */
  chain: string
  /** Encrypted key files (`root.key`, and `issuing.key` with an intermediate). */
  keys: string
  /** The CA's LevelDB. */
  db: string
}

/** The layout of a CA directory. */
export function caPaths (dir: string): CaPaths {
  return {
    config: join(dir, 'ca.json'),
    root: join(dir, 'root.pem'),
    chain: join(dir, 'ca-chain.pem'),
    keys: join(dir, 'keys'),
    db: join(dir, 'db')
  }
}

/** Key labels in the CA's key store. */
export const ROOT_KEY_LABEL = 'root'
export const ISSUING_KEY_LABEL = 'issuing'
