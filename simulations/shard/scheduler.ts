import { wallNow } from '../metrics/events.ts'
import type { PlannedAction } from '../scenario/plan.ts'

/**
 * Runs planned actions at t0 + at (wall clock), in order. One timer at a time; actions due within
 * the same millisecond run in one pass. Late actions run at once (and their events carry the
 * real time, so a late publish never shortens a measured latency).
 */
export class Scheduler {
  private readonly t0: number
  private readonly fn: (a: PlannedAction, index: number) => Promise<void> | void
  private stopped = false
  private timer?: ReturnType<typeof setTimeout>
  private wake?: () => void

  constructor (t0: number, fn: (a: PlannedAction, index: number) => Promise<void> | void) {
    this.t0 = t0
    this.fn = fn
  }

  async run (actions: PlannedAction[]): Promise<void> {
    for (let i = 0; i < actions.length && !this.stopped; i++) {
      const due = this.t0 + actions[i].at
      const wait = due - wallNow()
      if (wait > 1) {
        await new Promise<void>(resolve => { this.wake = resolve; this.timer = setTimeout(resolve, wait) })
        if (this.stopped) { return }
      }
      try {
        await this.fn(actions[i], i)
      } catch {
        // One failed action must not stop the run; its absence shows in the event log.
      }
    }
  }

  stop (): void {
    this.stopped = true
    if (this.timer != null) { clearTimeout(this.timer) }
    this.wake?.()
  }
}
