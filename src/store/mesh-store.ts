import { Level } from 'level'
import { ensurePrivateDir, restrictDirTree } from '../util/file-mode.ts'
import type { AbstractLevel, AbstractSublevel } from 'abstract-level'

/**
 * One LevelDB per process, one sublevel per concern. Every concern's typed interface (CA store,
 * token store, bundle store, ...) asks this for its sublevels by a name listed in `SUBLEVELS`,
 * so two concerns can never share a key space by accident. Adding a concern is one line there.
 */
export const SUBLEVELS = {
  'ca-meta': 'json',
  'ca-serials': 'json',
  'ca-certs': 'json',
  'ca-certs-by-node': 'json',
  'ca-revoked': 'json',
  'ca-revoked-nodes': 'json',
  'ca-superseded': 'json',
  'ca-audit': 'json',
  'enroll-tokens': 'json',
  'ca-node-devices': 'json',
  'anomaly-signatures': 'json',
  'anomaly-expiry': 'json',
  // DTN bundle store (src/dtn/store/bundle-store.ts)
  'dtn-bundles': 'view',
  'dtn-outbound': 'json',
  'dtn-by-dest': 'json',
  'dtn-expiry': 'json',
  'dtn-seen': 'json',
  'dtn-fragments': 'view',
  'dtn-inbox': 'view',
  'dtn-state': 'json',
  // The mesh node's current CRLs and their ETags (src/store/crl-state.ts)
  'node-crl': 'json',
  // What a node holds while its certificate is not valid (src/daemon/runtime/held-outbox.ts)
  'node-held': 'json'
} as const satisfies Record<string, ValueEncodingName>

export type ValueEncodingName = 'json' | 'view'
export type SublevelName = keyof typeof SUBLEVELS

/** The root database type: string keys, values encoded per sublevel. */
export type RootDb = AbstractLevel<string | Buffer | Uint8Array, string, any>

/** A typed sublevel with string keys and values of type V. */
export type Sublevel<V> = AbstractSublevel<RootDb, string | Buffer | Uint8Array, string, V>

/**
 * Options that make LevelDB fsync before a write returns (classic-level `sync`). Pass these on
 * every write whose loss after a crash would lose data (issued certs, revocations, counters, audit).
 * Held in a variable because abstract-level's option types do not declare `sync`.
 */
export const SYNC: Record<string, unknown> = { sync: true }

/** The process-wide store: typed sublevels over one LevelDB. */
export interface MeshStore {
  /** The root database, for atomic batches across sublevels (`{ type, sublevel, key, value }`). */
  readonly db: RootDb
  /** The sublevel for one concern, with the value encoding declared in `SUBLEVELS`. */
  sublevel<V>(name: SublevelName): Sublevel<V>
  close(): Promise<void>
}

/**
 * Opens (creating if needed) the LevelDB at `path` as the process's MeshStore. The directory is
 * forced to 0700 before LevelDB creates anything in it, and the files LevelDB created (with the
 * process umask) are set to 0600 once it is open: the store holds certificates, revocations,
 * tokens' hashes and bundles, which are nobody else's business on a shared host.
 */
export async function openStore (path: string): Promise<MeshStore> {
  await ensurePrivateDir(path)
  const db = new Level<string, any>(path, { keyEncoding: 'utf8', valueEncoding: 'json' })
  await db.open()
  try {
    await restrictDirTree(path)
  } catch (err) {
    await db.close()
    throw err
  }
  return wrapStore(db as unknown as RootDb)
}

/**
 * Wraps an already created abstract-level database (unit tests pass a memory-level here). The
 * database must be open or opening.
 */
export function wrapStore (db: RootDb): MeshStore {
  const cache = new Map<SublevelName, Sublevel<any>>()
  return {
    db,
    sublevel<V>(name: SublevelName): Sublevel<V> {
      let s = cache.get(name)
      if (s == null) {
        s = db.sublevel<string, V>(name, { keyEncoding: 'utf8', valueEncoding: SUBLEVELS[name] }) as Sublevel<any>
        cache.set(name, s)
      }
      return s as Sublevel<V>
    },
    async close () {
      await db.close()
    }
  }
}
