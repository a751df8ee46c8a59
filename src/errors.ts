/**
 * Base of every error the mesh raises on purpose. `code` is drawn from a bounded set per error
 * class, so it can be logged, counted in metrics and asserted in tests; `message` is for humans.
 */
export class MeshError<Code extends string = string> extends Error {
  static name = 'MeshError'
  readonly code: Code

  constructor (code: Code, message: string, options?: ErrorOptions) {
    super(message, options)
    this.code = code
    this.name = (this.constructor as { name: string }).name
  }
}
