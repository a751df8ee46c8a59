/**
 * `promise`, or a rejection with `signal.reason` as soon as `signal` aborts, whichever is first.
 * The listener is removed either way, so a long-lived signal does not collect one per call.
 * `promise` always gets a handler: when the signal has aborted already, nobody awaits it any
 * more, and its later rejection would otherwise be unhandled, which ends the process.
 */
export async function raceAbort<T> (promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => {})
    throw signal.reason
  }
  const { promise: aborted, reject } = Promise.withResolvers<never>()
  const onAbort = (): void => { reject(signal.reason) }
  signal.addEventListener('abort', onAbort, { once: true })
  try {
    return await Promise.race([promise, aborted])
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}
