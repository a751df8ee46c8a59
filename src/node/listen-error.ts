import { MeshNodeError } from './errors.ts'

/** Longest failure text kept per address: the reason, not a stack. */
const MAX_REASON_CHARS = 200

/**
 * libp2p reports listen addresses it could not bind (a port another process holds, an address
 * the host does not have) as one error whose message carries each transport's whole stack
 * trace. An operator needs one line: which address, and why. LISTEN_FAILED says that; any other
 * error is returned as it is.
 */
export function listenFailure (err: unknown): unknown {
  const e = err as { name?: unknown, message?: unknown }
  if (e?.name !== 'UnsupportedListenAddressesError' && e?.name !== 'NoValidAddressesError') { return err }
  const message = typeof e.message === 'string' ? e.message : ''
  // Lines "  /ip4/…/quic-v1: Error: Address already in use (os error 98)", each followed by its stack.
  const failures = [...message.matchAll(/^\s*(\/\S+): (?:\w*Error: )?(.*)$/gm)].map(m => `${m[1]}: ${m[2].slice(0, MAX_REASON_CHARS)}`)
  const hint = /in use/i.test(message) ? ' (another process holds the port: stop it, or give another --listen port)' : ''
  return new MeshNodeError('LISTEN_FAILED', `cannot listen on ${failures.length > 0 ? failures.join('; ') : 'the configured addresses'}${hint}`)
}
