import { SYNC } from '../../store/mesh-store.ts'
import { Tx } from './group-tx.ts'
import type { Usage } from './bundle-records.ts'
import type { Op } from './group-tx.ts'
import type { RootDb, Sublevel } from '../../store/mesh-store.ts'

export { Tx } from './group-tx.ts'
export type { Op } from './group-tx.ts'

/**
 * The bundle store's write queue: group commit, pipelined. Callers queue changes; each change is
 * decided in order against the state left by every change before it, and a whole group goes to
 * disk as one atomic `sync` batch, so durability costs one fsync per group, not per bundle.
 * While one group's batch is on its way to disk (the fsync leaves the CPU idle), the next group
 * takes every change that arrives and decides it at once, on top of the group in flight; it is
 * written when that one is on disk, and fails with it if its write fails (it was decided on top
 * of it). A change's `onCommit` steps (in-memory index updates) run only once its batch committed.
 *
 * A change writes straight into its group (`tx.put`, `tx.del`, ...) rather than into an object
 * of its own: at tens of thousands of accepts a second the per-change objects were a measurable
 * part of the cost (bench/dtn.ts). A change that throws is rolled back: its writes, index steps,
 * usage and the keys it marked leave the group, and it is refused having written nothing.
 *
 * The disk is the bottleneck of a busy store (bench/dtn.ts: its write is busy 95% of a burst of
 * accepts), so nothing stands between two batches: each decided change's ops go into the group's
 * LevelDB batch at once, and when a batch is on disk the next one is handed to LevelDB before the
 * finished group's index updates run and its callers are resolved.
 */

/**
 * Decides a change against the state as of every change before it, writing it into `tx`, and
 * returns its result (a promise only when it must read first); may throw to refuse.
 */
export type Prepare<T> = (tx: Tx) => T | Promise<T>

interface Job<T> {
  /** Keys the job will ask `prefetch` about: read for many jobs at once. */
  keys: string[] | undefined
  prepare: Prepare<T>
  resolve(v: T): void
  reject(e: unknown): void
  result: T | undefined
}

/**
 * Most changes in one group batch: bounds a batch's size and the time its callers wait, and keeps
 * the groups comparable with the 1,000-put batches of the benchmark's raw baseline.
 */
export const MAX_GROUP_JOBS = 1024

export interface GroupCommitInit {
  db: RootDb
  /** The committed usage, and its update once a group is on disk. */
  usage(): Usage
  setUsage(u: Usage): void
  /**
   * Reads what `jobs` declared (`keys`) for many jobs at once, into `tx.seen`; returns undefined
   * when nothing needs reading (no await, then).
   */
  prefetch?(jobs: ReadonlyArray<{ keys: string[] | undefined }>, tx: Tx): Promise<void> | undefined
}

/** A group being decided or written: its Tx, the jobs it took, and its native batch as it fills. */
interface Group {
  tx: Tx
  jobs: Array<Job<any>>
  /** LevelDB's write batch, fed each job's ops once the job is decided (undefined until the first op). */
  batch: ChainedBatch | undefined
  /** How many of `tx.ops` the batch holds. */
  fed: number
  /** A feed failed part-way: the batch is dropped and rebuilt from `tx.ops` at write time. */
  broken: boolean
}

/** A group whose batch is on its way to disk: resolves `undefined` once written, or the error (its jobs rejected). */
interface Inflight {
  group: Group
  written: Promise<unknown>
}

/** The part of abstract-level's chained batch the queue uses. */
interface ChainedBatch {
  put(key: string, value: unknown, options: { sublevel: Sublevel<any> }): unknown
  del(key: string, options: { sublevel: Sublevel<any> }): unknown
  write(options: Record<string, unknown>): Promise<void>
  close(): Promise<void>
}

export class GroupCommit {
  readonly #init: GroupCommitInit
  #queue: Array<Job<any>> = []
  #flushing: Promise<void> | null = null
  /** Wakes the flush loop when a change is queued while a batch is in flight. */
  #wake: (() => void) | undefined
  readonly #options = new Map<Sublevel<any>, { sublevel: Sublevel<any> }>()

  constructor (init: GroupCommitInit) {
    this.#init = init
  }

  /** Queues a change; resolves with its result once it is on disk, or rejects having written nothing. */
  // not `async`: one promise per change, not two (this is on every accept's path)
  run<T>(prepare: Prepare<T>, keys?: string[]): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ prepare, resolve, reject, keys, result: undefined })
      if (this.#flushing == null) {
        this.#flushing = this.#flush()
      } else if (this.#wake != null) {
        const wake = this.#wake
        this.#wake = undefined
        wake()
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
    let inflight: Inflight | undefined
    // ends when nothing is queued and nothing is in flight
    for (;;) {
      const tx = new Tx(inflight?.group.tx.usage ?? this.#init.usage(), inflight?.group.tx)
      const group: Group = { tx, jobs: [], batch: undefined, fed: 0, broken: false }
      const taken = await this.#gather(group, inflight)
      const prev = inflight
      inflight = undefined
      if (prev != null) {
        const failed = await prev.written
        if (failed != null) {
          // decided on top of a batch that never reached the disk: refused with it
          for (const job of group.jobs) { job.reject(failed) }
          await group.batch?.close().catch(() => {})
          continue
        }
      }
      // this group's batch goes to disk first, then the previous group's bookkeeping runs while
      // it is written: the disk never waits for the index updates or for the callers
      if (taken > 0) { inflight = { group, written: this.#write(group) } }
      if (prev != null) { this.#apply(prev.group) }
      if (inflight == null && this.#queue.length === 0) { break }
    }
    this.#flushing = null
  }

  /**
   * Decides changes into `group` as they come until the batch in flight is on disk (or, with none
   * in flight, until the queue is empty), at most MAX_GROUP_JOBS; returns how many it took.
   */
  async #gather (group: Group, inflight: Inflight | undefined): Promise<number> {
    let taken = 0
    for (;;) {
      if (this.#queue.length > 0 && taken < MAX_GROUP_JOBS) {
        const jobs = this.#queue.length <= MAX_GROUP_JOBS - taken ? this.#queue : this.#queue.slice(0, MAX_GROUP_JOBS - taken)
        this.#queue = jobs === this.#queue ? [] : this.#queue.slice(jobs.length)
        taken += jobs.length
        await this.#decide(jobs, group)
        continue
      }
      if (inflight == null || taken >= MAX_GROUP_JOBS) { break }
      const written = await Promise.race([inflight.written.then(() => true), this.#arrival().then(() => false)])
      if (written) { break }
    }
    this.#wake = undefined
    return taken
  }

  /** Resolves at the next change queued (the flush loop waits on it beside the batch in flight). */
  async #arrival (): Promise<void> {
    return new Promise<void>(resolve => { this.#wake = resolve })
  }

  /** Decides `jobs` into the group: one prefetch of their keys, then each job in order, its ops fed to the batch. */
  async #decide (jobs: Array<Job<any>>, group: Group): Promise<void> {
    const tx = group.tx
    const reads = this.#init.prefetch?.(jobs, tx)
    if (reads != null) {
      try {
        await reads
      } catch {
        // each job falls back to its own reads
      }
    }
    for (const job of jobs) {
      tx.begin()
      try {
        const out = job.prepare(tx)
        job.result = out instanceof Promise ? await out : out
        this.#feed(group)
        group.jobs.push(job)
      } catch (err) {
        tx.rollback()
        job.reject(err)
      }
    }
  }

  /**
   * Hands the ops of the job just decided to the group's native batch, so the batch is ready the
   * moment the previous one is on disk. A put LevelDB refuses (abstract-level checks keys and
   * values) leaves the batch holding part of the job: it is dropped, and rebuilt at write time
   * from the ops of the jobs that stay; the job is refused.
   */
  #feed (group: Group): void {
    const ops = group.tx.ops
    if (group.broken || group.fed === ops.length) { return }
    const batch = group.batch ?? (group.batch = this.#init.db.batch() as unknown as ChainedBatch)
    try {
      for (; group.fed < ops.length; group.fed++) { this.#put(batch, ops[group.fed]) }
    } catch (err) {
      group.broken = true
      group.batch = undefined
      batch.close().catch(() => {})
      throw err
    }
  }

  #put (batch: ChainedBatch, op: Op): void {
    if (op.type === 'put') {
      batch.put(op.key, op.value, this.#optionsFor(op.sublevel))
    } else {
      batch.del(op.key, this.#optionsFor(op.sublevel))
    }
  }

  /**
   * Writes one group as one atomic `sync` batch, through abstract-level's chained form: it hands
   * each op to LevelDB's write batch in one native call, where the array form clones each op and
   * makes the native side look up its fields one by one (about three times the main-thread CPU
   * per op, measured with 1,000-op batches of bundle records). Resolves undefined once written;
   * on failure rejects the group's jobs and resolves the error. Never rejects.
   */
  async #write (group: Group): Promise<unknown> {
    try {
      let batch = group.batch
      if (group.broken) {
        batch = this.#init.db.batch() as unknown as ChainedBatch
        for (const op of group.tx.ops) { this.#put(batch, op) }
      }
      if (batch != null) { await batch.write(SYNC) }
      return undefined
    } catch (err) {
      for (const job of group.jobs) { job.reject(err) }
      return err ?? new Error('batch failed')
    }
  }

  /** A written group's bookkeeping: the usage, its index steps, then its callers. */
  #apply (group: Group): void {
    this.#init.setUsage(group.tx.usage)
    for (const step of group.tx.after) { step() }
    for (const job of group.jobs) { job.resolve(job.result) }
  }

  /** One options object per sublevel, made once (abstract-level copies options, never keeps them). */
  #optionsFor (sublevel: Sublevel<any>): { sublevel: Sublevel<any> } {
    let o = this.#options.get(sublevel)
    if (o == null) {
      o = { sublevel }
      this.#options.set(sublevel, o)
    }
    return o
  }
}
