/** Runs async sections one at a time, in call order (an in-process mutex). */
export interface Lock {
  run<T>(fn: () => Promise<T>): Promise<T>
}

/** Creates a Lock; a failed section does not block the ones after it. */
export function createLock (): Lock {
  let tail: Promise<unknown> = Promise.resolve()
  return {
    async run<T>(fn: () => Promise<T>): Promise<T> {
      const result = tail.then(fn, fn)
      tail = result.catch(() => {})
      return result
    }
  }
}
