import type { Usage } from './bundle-records.ts'
import type { Sublevel } from '../../store/mesh-store.ts'

/** One change's view of the group it is decided into (group-commit.ts runs the groups). */

export type Op = { type: 'put', sublevel: Sublevel<any>, key: string, value: unknown } | { type: 'del', sublevel: Sublevel<any>, key: string }

/**
 * The group being built: its writes and index steps; keys written and values deleted in it (so
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
  readonly ops: Op[] = []
  readonly after: Array<() => void> = []
  /** Where the job being decided began, to roll it back. */
  #mark = { ops: 0, after: 0, bytes: 0, entries: 0 }
  /** Keys the job being decided added to `written` and to `deleted`. */
  #newlyWritten: string[] = []
  #newlyDeleted: string[] = []

  constructor (usage: Usage, prev?: Tx) {
    this.usage = { bytes: usage.bytes, entries: usage.entries }
    if (prev != null) { this.prev = prev }
  }

  /** Queues a put in the group's batch. */
  put (sublevel: Sublevel<any>, key: string, value: unknown): void {
    this.ops.push({ type: 'put', sublevel, key, value })
  }

  /** Queues a delete in the group's batch. */
  del (sublevel: Sublevel<any>, key: string): void {
    this.ops.push({ type: 'del', sublevel, key })
  }

  /** Runs `step` once the group is on disk (never if it fails). */
  onCommit (step: () => void): void {
    this.after.push(step)
  }

  /** Adds to the usage the group leaves behind. */
  charge (bytes: number, entries: number): void {
    this.usage.bytes += bytes
    this.usage.entries += entries
  }

  /** Marks `key` written in this group. */
  markWritten (key: string): void {
    if (this.written.has(key)) { return }
    this.written.add(key)
    this.#newlyWritten.push(key)
  }

  /** Marks `key` deleted in this group. */
  markDeleted (key: string): void {
    if (this.deleted.has(key)) { return }
    this.deleted.add(key)
    this.#newlyDeleted.push(key)
  }

  wrote (key: string): boolean {
    return this.written.has(key) || this.prev?.written.has(key) === true
  }

  gone (key: string): boolean {
    return this.deleted.has(key) || this.prev?.deleted.has(key) === true
  }

  /** `gone(prefix + key)`, without making the string when nothing was deleted (the common case). */
  goneAs (prefix: string, key: string): boolean {
    if (this.deleted.size === 0 && (this.prev == null || this.prev.deleted.size === 0)) { return false }
    return this.gone(prefix + key)
  }

  /** Starts a job: what `rollback` returns to. */
  begin (): void {
    const m = this.#mark
    m.ops = this.ops.length
    m.after = this.after.length
    m.bytes = this.usage.bytes
    m.entries = this.usage.entries
    if (this.#newlyWritten.length > 0) { this.#newlyWritten = [] }
    if (this.#newlyDeleted.length > 0) { this.#newlyDeleted = [] }
  }

  /** Takes the job begun last out of the group. */
  rollback (): void {
    const m = this.#mark
    this.ops.length = m.ops
    this.after.length = m.after
    this.usage.bytes = m.bytes
    this.usage.entries = m.entries
    for (const k of this.#newlyWritten) { this.written.delete(k) }
    for (const k of this.#newlyDeleted) { this.deleted.delete(k) }
    this.#newlyWritten = []
    this.#newlyDeleted = []
  }
}
