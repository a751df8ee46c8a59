/**
 * A mesh process must not end because a peer went away. `@chainsafe/libp2p-quic` resets a stream with
 * `void stream.resetWrite(); void stream.stopRead()` (its QuicStream.sendReset): the native calls can
 * reject once the stream or its connection is already gone, nothing handles that promise, and Node ends
 * the process on an unhandled rejection. The library's own read loop takes the same native error (an
 * Error whose code is 'Unknown') as "the stream is closed".
 *
 * The processes that run mesh nodes (bin/dadm-mesh.js, the demo) therefore install this guard at start:
 * such a late rejection is absorbed (and handed to `onLate`), and every other unhandled rejection still
 * ends the process as Node would. Test runners keep their own handling.
 * test/node/quic-late-rejection.spec.ts fails when the library stops firing and forgetting those calls,
 * so the guard is removed with its cause.
 */

/** The code napi-rs gives the native QUIC binding's errors; no Node or dadm-mesh error uses it. */
const NATIVE_QUIC_CODE = 'Unknown'

/** True for the rejection of a native QUIC stream call made after its stream or connection closed. */
export function isQuicLateRejection (reason: unknown): boolean {
  return reason instanceof Error && (reason as Error & { code?: unknown }).code === NATIVE_QUIC_CODE
}

export interface QuicRejectionGuardInit {
  /** Told of each late rejection it absorbed (a debug log line, a counter). */
  onLate?(reason: Error): void
}

/**
 * Installs the guard on `process`; returns a function that removes it. Anything but a late QUIC
 * rejection is thrown again from the handler, which Node treats as an uncaught exception: the process
 * ends with the error printed, exactly as without the guard.
 */
export function installQuicRejectionGuard (init: QuicRejectionGuardInit = {}): () => void {
  const handler = (reason: unknown): void => {
    if (isQuicLateRejection(reason)) {
      init.onLate?.(reason as Error)
      return
    }
    throw reason
  }
  process.on('unhandledRejection', handler)
  return () => { process.off('unhandledRejection', handler) }
}
