import type { Progress } from '../coordinator/run.ts'

/**
 * A one-line progress bar on stderr, drawn only when stderr is a terminal (CI logs and pipes
 * get the phase lines only).
 */
export class ProgressBar {
  private readonly tty: boolean
  private readonly out: NodeJS.WriteStream
  private last = ''

  constructor (out: NodeJS.WriteStream = process.stderr) {
    this.out = out
    this.tty = out.isTTY === true
  }

  phase (name: string): void {
    this.clear()
    this.out.write(`[sim] ${name}\n`)
  }

  update (p: Progress): void {
    if (!this.tty) { return }
    const width = 30
    const frac = Math.max(0, Math.min(1, p.elapsedMs / p.totalMs))
    const filled = Math.round(frac * width)
    const ratio = p.expected > 0 ? ` deliveries ${p.deliveries}/${p.expected}` : ''
    const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}% ${p.adapter} ${(p.elapsedMs / 1000).toFixed(1)}s${ratio} up ${p.up}`
    this.last = line
    this.out.write(`\r${line.slice(0, (this.out.columns ?? 120) - 1)}`)
  }

  clear (): void {
    if (this.tty && this.last !== '') {
      this.out.write('\r' + ' '.repeat(Math.min(this.last.length, (this.out.columns ?? 120) - 1)) + '\r')
      this.last = ''
    }
  }
}
