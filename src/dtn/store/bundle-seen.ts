import { SeenFilter } from './seen-filter.ts'
import type { BundleIndex } from './bundle-index.ts'
import type { Tx } from './group-commit.ts'
import type { Sublevel } from '../../store/mesh-store.ts'

/**
 * The bundle store's answer to "was this part seen?" (bundle-store.ts keeps the data): a part is
 * seen while a record stands for it (the in-memory index knows), or while its id is in
 * `dtn-seen` (after custody passed on, a purge, or a reassembly). For `dtn-seen` a Bloom filter
 * in memory (seen-filter.ts) answers "never" without a read; only a "maybe" costs one, and reads
 * for a whole group go to LevelDB at once. A part never seen before is the common case of an
 * accept, so accepting new bundles reads nothing (a read per accept would be a large share of
 * its cost: bench/dtn.ts measures the accept rate against raw LevelDB puts).
 *
 * The filter holds every id in `dtn-seen`: built from a scan at open; an id goes in when a change
 * that writes it is decided (before its batch is on disk: a failed batch leaves a harmless
 * "maybe"). Ids leave `dtn-seen` on expiry but stay in the filter, so once enough were added it
 * is rebuilt from a new scan in the background. The scan reads a snapshot taken when it starts,
 * and every id committed after that goes into the new filter too, so it never misses one.
 */

/**
 * Ids committed since the last build, beyond the number it was built with, before a rebuild starts:
 * a rebuild's scan costs about what the ids added since, so its cost per id stays constant.
 * 2^18 is a quarter of the load the default filter keeps under 2% false "maybe" (seen-filter.ts).
 */
export const FILTER_REBUILD_SLACK = 1 << 18

export class SeenIds {
  readonly #seen: Sublevel<number>
  readonly #index: BundleIndex
  readonly #bitsLog2: number | undefined
  readonly #slack: number
  #filter: SeenFilter
  /** The filter a rebuild is filling, if one runs. */
  #next: SeenFilter | undefined
  /** Ids the current filter was built with (its scan and what was committed during it). */
  #base = 0
  /** Ids committed since: with `#base`, what the filter's fill depends on. */
  #added = 0
  /** Ids the rebuild in progress has taken in. */
  #nextAdded = 0
  #rebuilding: Promise<void> | undefined
  #closed = false

  constructor (seen: Sublevel<number>, index: BundleIndex, bitsLog2?: number, rebuildSlack = FILTER_REBUILD_SLACK) {
    this.#seen = seen
    this.#index = index
    this.#bitsLog2 = bitsLog2
    this.#slack = rebuildSlack
    this.#filter = new SeenFilter(bitsLog2)
  }

  /** Builds the filter from every id in `dtn-seen` (at open, before any write). */
  async load (): Promise<void> {
    const f = new SeenFilter(this.#bitsLog2)
    let n = 0
    for await (const key of this.#seen.keys()) {
      f.add(key)
      n++
    }
    this.#filter = f
    this.#base = n
    this.#added = 0
  }

  /** Seen, from what the group, the index, the group's reads and the filter know; undefined when only a read can tell. */
  now (tx: Tx, pk: string): boolean | undefined {
    if (tx.wrote(pk)) { return true }
    if (tx.goneAs('s:', pk)) { return false }
    if (this.#index.holds(pk)) { return true }
    const read = tx.seen.get(pk)
    if (read !== undefined) { return read }
    return this.#filter.mightHave(pk) ? undefined : false
  }

  /** Reads, for a whole group at once, the seen ids of the parts memory cannot settle; undefined when there are none. */
  prefetch (jobs: ReadonlyArray<{ keys: string[] | undefined }>, tx: Tx): Promise<void> | undefined {
    let wanted: Set<string> | undefined
    for (const job of jobs) {
      if (job.keys == null) { continue }
      for (const pk of job.keys) {
        if (this.#index.holds(pk) || tx.wrote(pk) || tx.seen.has(pk) || !this.#filter.mightHave(pk)) { continue }
        (wanted ??= new Set()).add(pk)
      }
    }
    return wanted == null ? undefined : this.#readInto([...wanted], tx)
  }

  async #readInto (keys: string[], tx: Tx): Promise<void> {
    const found = await this.#seen.getMany(keys)
    for (let i = 0; i < keys.length; i++) { tx.seen.set(keys[i], found[i] != null) }
  }

  /** Whether the part is seen, as of the last committed change (a read only on a filter "maybe"). */
  async has (pk: string): Promise<boolean> {
    return this.#index.holds(pk) || (this.#filter.mightHave(pk) && await this.read(pk))
  }

  /** Whether `dtn-seen` holds the part, by a read. */
  async read (pk: string): Promise<boolean> {
    return (await this.#seen.get(pk)) != null
  }

  /** A change that writes the seen id `pk` was decided: from now on the filter says "maybe" (reads tell until it commits). */
  decided (pk: string): void {
    this.#filter.add(pk)
  }

  /**
   * A batch that wrote the seen id `pk` is on disk (an onCommit step). Added again, as the filter
   * may have been swapped for a rebuilt one since the change was decided.
   */
  committed (pk: string): void {
    this.#filter.add(pk)
    this.#added++
    if (this.#next != null) {
      this.#next.add(pk)
      this.#nextAdded++
    } else if (this.#added >= this.#base + this.#slack) {
      this.#rebuild()
    }
  }

  #rebuild (): void {
    if (this.#rebuilding != null || this.#closed) { return }
    const next = new SeenFilter(this.#bitsLog2)
    // the iterator reads a snapshot taken now (abstract-level implicit snapshots); every id
    // committed from now on reaches `next` through `committed`
    const keys = this.#seen.keys()
    this.#next = next
    this.#nextAdded = 0
    this.#rebuilding = (async () => {
      try {
        let n = 0
        for await (const key of keys) {
          if (this.#closed) { return }
          next.add(key)
          n++
        }
        this.#filter = next
        this.#base = n + this.#nextAdded
        this.#added = 0
      } catch {
        // keep the filter we have: it is still a superset, only fuller
      } finally {
        this.#next = undefined
        this.#rebuilding = undefined
      }
    })()
  }

  /** The rebuild in progress, if any (resolves when it ends, swapped in or not). */
  get rebuilding (): Promise<void> | undefined {
    return this.#rebuilding
  }

  /** Whether the filter may hold `pk` (false: `dtn-seen` certainly does not, as of the last decided change). */
  mightHave (pk: string): boolean {
    return this.#filter.mightHave(pk)
  }

  /** Stops a rebuild in progress (the store is closing). */
  async close (): Promise<void> {
    this.#closed = true
    await this.#rebuilding
  }
}
