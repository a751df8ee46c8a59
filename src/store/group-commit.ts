import { SYNC } from './mesh-store.ts'
import type { Usage } from './bundle-records.ts'
import type { RootDb, Sublevel } from './mesh-store.ts'

/**
 * The bundle store's write queue: group commit, pipelined. Callers queue changes; each change is
 * decided in order against the state left by every change before it, and a whole group goes to
 * disk as one atomic `sync` batch, so durability costs one fsync per group, not per bundle.
 * While one group's batch is on its way to disk (the fsync leaves the CPU idle), the next group
 * takes every change that arrives and decides it at once, on top of the group in flight; it is
 * written when that one is on disk, and fails with it if its write fails (it was decided on top
 * of it). A change's `after` steps (in-memory index updates) run only once its batch committed.
 */

export type Op = { type: 'put', sublevel: Sublevel<any>, key: string, value: unknown } | { type: 'del', sublevel: Sublevel<any>, key: string }

/** One change: its writes, what it does to the quota usage, and index updates for after the write. */
export interface Change {
  ops: Op[]
  delta: Usage
  after: Array<() => void>
}

export const emptyChange = (): Change => ({ ops: [], delta: { bytes: 0, entries: 0 }, after: [] })

/** Decides a change against the state as of every change before it; may throw to refuse (nothing is written). */
export type Prepare<T> = (tx: Tx) => Promise<{ change: Change, result: T }>

interface Job<T> {
  /** Keys the job will ask `prefetch` about: read for many jobs at once. */
  keys?: string[]
  prepare: Prepare<T>
  resolve(v: T): void
  reject(e: unknown): void
}

/**
 * What a job sees of the group being built: keys written and values deleted earlier in it (so
 * two jobs never both charge the same removal), and the usage so far; and the same of the one
 * group that may still be on its way to disk (`prev`). Jobs read the database and the indexes as
 * of the last committed group; callers (the agent) never queue two changes to one bundle at
 * once, so these sets are enough.
 */
export class Tx {
  readonly written = new Set<string>()
  readonly deleted = new Set<string>()
  readonly usage: Usage
  /** Results of `prefetch` for the group's declared keys. */
  readonly seen = new Map<string, boolean>()
  readonly prev?: Tx

  constructor (usage: Usage, prev?: Tx) {
    this.usage = { ...usage }
    if (prev != null) { this.prev = prev }
  }

  wrote (key: string): boolean {
    return this.written.has(key) || this.prev?.written.has(key) === true
  }

  gone (key: string): boolean {
    return this.deleted.has(key) || this.prev?.deleted.has(key) === true
  }
}

/**
 * Most changes in one group batch: bounds a batch's size and the time its callers wait, and keeps
 * the groups comparable with the 1,000-put batches of the benchmark's raw baseline.
 */
export const MAX_GROUP_JOBS = 1024

interface Group {
  ops: Op[]
  after: Array<() => void>
  done: Array<{ job: Job<any>, result: unknown }>
}

export interface GroupCommitInit {
  db: RootDb
  /** The committed usage, and its update once a group is on disk. */
  usage(): Usage
  setUsage(u: Usage): void
  /** Reads what jobs declared (`keys`) for many jobs at once, into `tx.seen`. */
  prefetch?(keys: string[], tx: Tx): Promise<void>
}

export class GroupCommit {
  readonly #init: GroupCommitInit
  #queue: Array<Job<any>> = []
  #flushing: Promise<void> | null = null
  /** Wakes the flush loop when a change is queued while a batch is in flight. */
  #wake: (() => void) | undefined

  constructor (init: GroupCommitInit) {
    this.#init = init
  }

  /** Queues a change; resolves with its result once it is on disk, or rejects having written nothing. */
  async run<T>(prepare: Prepare<T>, keys?: string[]): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ prepare, resolve, reject, keys })
      if (this.#flushing == null) {
        this.#flushing = this.#flush()
      } else {
        const wake = this.#wake
        this.#wake = undefined
        wake?.()
      }
    })
  }

  /** Resolves once every queued change is written (or refused). */
  async idle (): Promise<void> {
    for (let i = 0; i < 1000 && this.#flushing != null; i++) { await this.#flushing }
  }

  async #flush (): Promise<void> {
    // let every caller of this tick queue first: a burst of accepts becomes one group, not 1 + rest
    await Promise.resolve()
    let inflight: { tx: Tx, done: Promise<unknown> } | undefined
    // ends when nothing is queued and nothing is in flight
    for (;;) {
      const tx = new Tx(inflight?.tx.usage ?? this.#init.usage(), inflight?.tx)
      const group: Group = { ops: [], after: [], done: [] }
      let taken = 0
      // decide changes as they come until the batch in flight is on disk (or, with none in
      // flight, until the queue is empty)
      for (;;) {
        if (this.#queue.length > 0 && taken < MAX_GROUP_JOBS) {
          const jobs = this.#queue.splice(0, MAX_GROUP_JOBS - taken)
          taken += jobs.length
          await this.#decide(jobs, tx, group)
          continue
        }
        if (inflight == null || taken >= MAX_GROUP_JOBS) { break }
        const written = await Promise.race([inflight.done.then(() => true), this.#arrival().then(() => false)])
        if (written) { break }
      }
      if (inflight != null) {
        const failed = await inflight.done
        inflight = undefined
        if (failed != null) {
          for (const d of group.done) { d.job.reject(failed) }
          continue
        }
      }
      if (taken === 0) {
        if (this.#queue.length === 0) { break }
        continue
      }
      inflight = { tx, done: this.#commit(group, tx.usage) }
    }
    this.#flushing = null
  }

  /** Resolves at the next change queued (the flush loop waits on it beside the batch in flight). */
  async #arrival (): Promise<void> {
    return new Promise<void>(resolve => { this.#wake = resolve })
  }

  /** Decides `jobs` into `group`: one prefetch of their keys, then each job in order. */
  async #decide (jobs: Array<Job<any>>, tx: Tx, group: Group): Promise<void> {
    const wanted = [...new Set(jobs.flatMap(j => j.keys ?? []))].filter(k => !tx.seen.has(k))
    if (wanted.length > 0 && this.#init.prefetch != null) {
      try {
        await this.#init.prefetch(wanted, tx)
      } catch {
        // each job falls back to its own reads
      }
    }
    for (const job of jobs) {
      try {
        const { change, result } = await job.prepare(tx)
        for (const op of change.ops) { group.ops.push(op) }
        for (const a of change.after) { group.after.push(a) }
        tx.usage.bytes += change.delta.bytes
        tx.usage.entries += change.delta.entries
        group.done.push({ job, result })
      } catch (err) {
        job.reject(err)
      }
    }
  }

  /** Writes one group; resolves its jobs, or rejects them and resolves the error. */
  async #commit (group: Group, usage: Usage): Promise<unknown> {
    try {
      if (group.ops.length > 0) { await this.#init.db.batch(group.ops as any, SYNC) }
    } catch (err) {
      for (const d of group.done) { d.job.reject(err) }
      return err ?? new Error('batch failed')
    }
    this.#init.setUsage(usage)
    for (const a of group.after) { a() }
    for (const d of group.done) { d.job.resolve(d.result) }
    return undefined
  }
}
