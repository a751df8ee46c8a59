import { wallNow } from '../metrics/events.ts'

/**
 * The clock of a run whose certificates must age faster than real time (the `rotation`
 * scenario): every mesh node, its RotationManager and the run's CA read it, so certificate
 * validity, renewal deadlines and issuance all live on it. It keeps real time until the traffic
 * phase starts (links form and meshes settle at real speed, as in every other scenario), then
 * runs `speed` times faster. Timers, deadlines, TLS and the link model keep real time; only what
 * compares clock readings (certificate windows, session expiry, gossip timestamps, back-offs)
 * runs fast.
 *
 * Each process holds its own instance; all read the one machine's wall clock and switch at the
 * same planned instant `t0`, so they agree to well under the one-second resolution of X.509.
 */
export class RunClock {
  readonly speed: number
  #fastFrom = Infinity

  constructor (speed: number) {
    if (!(Number.isFinite(speed) && speed >= 1 && speed <= 100)) { throw new RangeError('clock speed must be between 1 and 100') }
    this.speed = speed
  }

  /** Wall time (ms) from which the clock runs fast; Infinity before the traffic phase is planned. */
  get fastFrom (): number {
    return this.#fastFrom
  }

  /** The clock, whole ms since the epoch (what `createMeshNode`'s `now` and the CA read). */
  now = (): number => Math.floor(this.at(wallNow()))

  /** The clock reading at wall time `wall`. */
  at (wall: number): number {
    return wall < this.#fastFrom ? wall : this.#fastFrom + (wall - this.#fastFrom) * this.speed
  }

  /** Runs fast from wall time `t0` on (the traffic phase's start). Only the first call counts. */
  startFast (t0: number): void {
    if (!Number.isFinite(this.#fastFrom)) { this.#fastFrom = t0 }
  }
}
