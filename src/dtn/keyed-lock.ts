/**
 * Serializes async work per key (in-process). Reassembly of one ADU must see its fragments one
 * at a time, or two last-but-one fragments arriving together would each find the set incomplete.
 * Memory is bounded by the keys in use: an entry leaves when its last holder finishes.
 */
export class KeyedLock {
  readonly #tails = new Map<string, Promise<unknown>>()

  /** Runs `fn` after every earlier `run` for `key` has settled. */
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#tails.get(key) ?? Promise.resolve()
    const next = prev.then(fn, fn)
    const tail = next.catch(() => {})
    this.#tails.set(key, tail)
    try {
      return await next
    } finally {
      if (this.#tails.get(key) === tail) { this.#tails.delete(key) }
    }
  }
}
