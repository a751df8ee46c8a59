/**
 * How the node changes what a libp2p service sees of its components, without forking the service:
 * a view of an object with some members replaced. libp2p's components object is itself a proxy
 * that cannot be spread or copied, so a view reads every other member through to the original, and
 * binds methods to it (the originals keep their private state). One place for this, so a change in
 * how libp2p hands components over shows up in one file.
 */

/** `target` with the members in `overrides` replaced; every other member read from `target`. */
export function overriding<T extends object> (target: T, overrides: Partial<Record<string | symbol, unknown>>): T {
  return new Proxy(target, {
    get (t, prop) {
      if (Object.prototype.hasOwnProperty.call(overrides, prop)) { return overrides[prop] }
      const value = Reflect.get(t, prop, t)
      return typeof value === 'function' ? value.bind(t) : value
    }
  })
}

/** Components with one member (registrar, addressManager, ...) replaced; nothing else is bound or changed. */
export function replacingComponent<C extends object> (components: C, name: string, value: unknown): C {
  return new Proxy(components, {
    get (t, prop) {
      return prop === name ? value : Reflect.get(t, prop)
    }
  })
}
