import type { Connection, StreamMuxer } from '@libp2p/interface'

/**
 * The stream muxer libp2p keeps on a connection. It is not part of the Connection interface, so
 * every caller must cope with undefined (another libp2p build, a test double).
 */
export function muxerOf (connection: Connection): StreamMuxer | undefined {
  return (connection as unknown as { muxer?: StreamMuxer }).muxer
}

/** `target` with one method replaced; every other property (symbols too) is the target's own, methods bound to it. */
export function withMethod<T extends object, K extends keyof T> (target: T, name: K, replace: (inner: T) => T[K]): T {
  const method = replace(target)
  return new Proxy(target, {
    get (t, prop) {
      if (prop === name) { return method }
      const value = Reflect.get(t, prop, t)
      return typeof value === 'function' ? value.bind(t) : value
    }
  })
}
