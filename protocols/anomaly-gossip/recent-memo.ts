/**
 * A few recent results, keyed by object identity, with strong references and a hard bound.
 *
 * gossipsub computes a message's id and then runs the topic validator on the very same message
 * (the same data bytes object), with at most a microtask between the two, so a memo only needs
 * to live that long. A WeakMap would do it without a bound, but V8 handles WeakMap entries with
 * young keys as ephemerons in every scavenge: measured on the validation path, three WeakMap
 * entries per message cost more than decoding the envelope. A small Map with strong references
 * costs a hash lookup; the bound keeps what it holds to a few messages, and the consumer deletes
 * its entry once used. A miss only means computing again.
 */

/** Entries kept: far more than the messages that can sit between msgIdFn and their validation. */
export const RECENT_MEMO_SIZE = 32

export class RecentMemo<K extends object, V> {
  readonly #max: number
  readonly #entries = new Map<K, V>()

  constructor (max = RECENT_MEMO_SIZE) {
    this.#max = max
  }

  get (key: K): V | undefined {
    return this.#entries.get(key)
  }

  set (key: K, value: V): void {
    if (this.#entries.size >= this.#max && !this.#entries.has(key)) {
      const oldest = this.#entries.keys().next()
      if (oldest.done !== true) { this.#entries.delete(oldest.value) }
    }
    this.#entries.set(key, value)
  }

  delete (key: K): void {
    this.#entries.delete(key)
  }
}
