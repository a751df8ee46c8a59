import { chmod, lstat, unlink } from 'node:fs/promises'
import { connect } from 'node:net'
import type { FastifyInstance } from 'fastify'

/**
 * A fastify service on a Unix socket that only its own user may use. Access control is the file
 * system: the socket is bound under a 0177 umask (so it never exists with looser permissions, even
 * for a moment) and chmod'ed to 0600 after, whatever the umask did. Shared by the CA's operator
 * socket and the node's local read socket.
 */

/** sun_path holds 108 bytes on Linux, NUL included; stay under it with margin. */
export const MAX_SOCKET_PATH = 100
/** Deadline for probing an existing socket file. */
const PROBE_TIMEOUT_MS = 1000

/** What was found at a socket path before binding. */
export type SocketPathState = 'free' | 'in-use' | 'not-a-socket'

/**
 * Makes `path` free for a new socket: a socket file left by a crashed process (nothing answers on
 * it) is removed; one that answers is 'in-use'; a file that is not a socket is never removed.
 */
export async function clearStaleSocket (path: string): Promise<SocketPathState> {
  let st
  try {
    st = await lstat(path)
  } catch (err: any) {
    if (err.code === 'ENOENT') { return 'free' }
    throw err
  }
  if (!st.isSocket()) { return 'not-a-socket' }
  if (await socketAnswers(path)) { return 'in-use' }
  await unlink(path)
  return 'free'
}

/** True when something accepts connections on the Unix socket at `path` (within 1 s). */
export async function socketAnswers (path: string): Promise<boolean> {
  return new Promise(resolve => {
    const sock = connect({ path })
    const timer = setTimeout(() => { sock.destroy(); resolve(false) }, PROBE_TIMEOUT_MS)
    sock.once('connect', () => { clearTimeout(timer); sock.destroy(); resolve(true) })
    sock.once('error', () => { clearTimeout(timer); resolve(false) })
  })
}

/** A fastify app listening on a private socket; `close` (idempotent) stops it and removes the file. */
export interface PrivateSocket {
  readonly path: string
  close(): Promise<void>
}

/** Binds a ready fastify app to `path` with mode 0600. */
export async function listenPrivateSocket (app: FastifyInstance, path: string): Promise<PrivateSocket> {
  // umask is process-wide and main-thread only (worker threads cannot change it): restored at once.
  let previous: number | undefined
  try {
    previous = process.umask(0o177)
  } catch {
    previous = undefined
  }
  try {
    await app.listen({ path })
  } finally {
    if (previous != null) { process.umask(previous) }
  }
  await chmod(path, 0o600)
  let closed: Promise<void> | undefined
  return {
    path,
    async close () {
      closed ??= (async () => {
        await app.close()
        await unlink(path).catch(() => {})
      })()
      await closed
    }
  }
}
