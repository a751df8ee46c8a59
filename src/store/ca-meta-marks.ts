import { SYNC } from './mesh-store.ts'
import type { MeshStore } from './mesh-store.ts'

/**
 * The numbering marks of a CA store that a backup records and a restore must never move
 * backwards: CRL numbers per scope, the notice sequence, the revocation epoch. `CaStore` owns the
 * writes of normal operation; these read and raise the same `ca-meta` keys for `ca backup` and
 * `ca restore`, which work on a store no service has open.
 */

export interface CaHighWater {
  /** Last reserved CRL number of the issuing CA's CRL and of the root's. */
  crlNumberIssuing: number
  crlNumberRoot: number
  /** Last reserved notice sequence (rotate-now, trust bundle). */
  noticeSeq: number
  revocationEpoch: number
}

/** What `ca backup` writes into the copy's store: a copy carrying it is not served until restored. */
export interface BackupMark {
  created_at: string
  source: string
}

const BACKUP_MARK_KEY = 'backup-of'

const num = (v: unknown): number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : 0

/** The marks as stored (0 for a mark never written). */
export async function readHighWater (store: MeshStore): Promise<CaHighWater> {
  const meta = store.sublevel<any>('ca-meta')
  const [issuing, root, notice, epoch] = await meta.getMany(['crl-number:issuing', 'crl-number:root', 'notice-seq', 'revocation-epoch'])
  return { crlNumberIssuing: num(issuing), crlNumberRoot: num(root), noticeSeq: num(notice), revocationEpoch: num(epoch) }
}

/**
 * Raises the reserved CRL number of `scope` to at least `floor` (never lowers it), so the next
 * CRL the CA signs is numbered above `floor`. Returns the stored value.
 */
export async function raiseCrlNumber (store: MeshStore, scope: 'issuing' | 'root', floor: number): Promise<number> {
  const meta = store.sublevel<any>('ca-meta')
  const key = `crl-number:${scope}`
  const next = Math.max(num(await meta.get(key)), floor)
  await meta.put(key, next, SYNC)
  return next
}

export async function getBackupMark (store: MeshStore): Promise<BackupMark | undefined> {
  return store.sublevel<any>('ca-meta').get(BACKUP_MARK_KEY)
}

export async function setBackupMark (store: MeshStore, mark: BackupMark): Promise<void> {
  await store.sublevel<any>('ca-meta').put(BACKUP_MARK_KEY, mark, SYNC)
}

export async function clearBackupMark (store: MeshStore): Promise<void> {
  await store.sublevel<any>('ca-meta').del(BACKUP_MARK_KEY, SYNC)
}

/**
 * Drops every enrollment token record. A restored store holds tokens as they were at backup time:
 * one spent after the backup would count as unspent again, so none of them is honoured.
 * Returns how many were dropped.
 */
export async function dropAllTokens (store: MeshStore): Promise<number> {
  const tokens = store.sublevel<any>('enroll-tokens')
  let n = 0
  for await (const _ of tokens.keys()) { n++ } // eslint-disable-line @typescript-eslint/no-unused-vars
  await tokens.clear()
  return n
}

/** Counts one more revocation change, so the next CRL request builds a fresh CRL (see currentCrl). */
export async function bumpRevocationEpoch (store: MeshStore): Promise<number> {
  const meta = store.sublevel<any>('ca-meta')
  const next = num(await meta.get('revocation-epoch')) + 1
  await meta.put('revocation-epoch', next, SYNC)
  return next
}
