import { spawn, spawnSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ChildProcess } from 'node:child_process'

/**
 * Debian's Prometheus tools as outside checkers: `promtool check metrics` on an exposition text,
 * and a real `prometheus` server started by pid on loopback with a temporary config and data
 * directory, queried through its HTTP API.
 */

/** The written skip rule of the suites that use them. */
export const NEEDS_PROMETHEUS = 'needs Debian\'s prometheus package (promtool, prometheus; scripts/install-system-deps.sh)'

export function hasPrometheusTools (): boolean {
  return ['promtool', 'prometheus'].every(b => spawnSync(b, ['--version'], { stdio: 'ignore' }).status === 0)
}

export interface ToolRun { code: number | null, stdout: string, stderr: string }

/** `promtool check metrics` on `text` (its stdin); exit 0 means no lint problem. */
export async function promtoolCheckMetrics (text: string, ms = 20_000): Promise<ToolRun> {
  const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
  const timer = setTimeout(() => { child.kill('SIGKILL') }, ms)
  child.stdin.end(text)
  const code = await new Promise<number | null>(resolve => { child.once('exit', c => { resolve(c) }) })
  clearTimeout(timer)
  return { code, stdout, stderr }
}

/** A free TCP port on 127.0.0.1 (closed again before it is returned). */
export async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => { server.listen(0, '127.0.0.1', resolve) })
  const port = (server.address() as { port: number }).port
  await new Promise<void>(resolve => { server.close(() => { resolve() }) })
  return port
}

export interface PrometheusServer {
  url: string
  pid: number
  /** One instant-vector query; the samples' labels and values. */
  query(q: string): Promise<Array<{ metric: Record<string, string>, value: number }>>
  /** Scrape targets as Prometheus sees them (health, lastError). */
  targets(): Promise<Array<{ scrapeUrl: string, health: string, lastError: string }>>
  stop(): Promise<void>
}

/** Starts `prometheus` scraping `targets` (host:port) every `intervalMs`, and waits for its /-/ready. */
export async function startPrometheus (targets: Record<string, string[]>, intervalMs = 1000): Promise<PrometheusServer> {
  const dir = await mkdtemp(join(tmpdir(), 'dadm-prom-'))
  const port = await freePort()
  const jobs = Object.entries(targets).map(([job, t]) => `  - job_name: ${job}\n    static_configs:\n      - targets: [${t.map(x => `'${x}'`).join(', ')}]\n`).join('')
  const config = `global:\n  scrape_interval: ${intervalMs}ms\n  scrape_timeout: ${intervalMs}ms\nscrape_configs:\n${jobs}`
  await writeFile(join(dir, 'prometheus.yml'), config)
  const child: ChildProcess = spawn('prometheus', [
    `--config.file=${join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn'
  ], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (c: Buffer) => { stderr += c.toString().slice(0, 10_000) })
  const exited = new Promise<void>(resolve => { child.once('exit', () => { resolve() }) })
  const url = `http://127.0.0.1:${port}`
  const stop = async (): Promise<void> => {
    if (child.exitCode == null && child.signalCode == null) {
      process.kill(child.pid as number, 'SIGTERM')
      const timer = setTimeout(() => { if (child.exitCode == null) { process.kill(child.pid as number, 'SIGKILL') } }, 10_000)
      await exited
      clearTimeout(timer)
    }
    await rm(dir, { recursive: true, force: true })
  }
  try {
    await until(async () => {
      if (child.exitCode != null) { throw new Error(`prometheus exited: ${stderr}`) }
      const r = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) }).catch(() => undefined)
      return r?.status === 200
    }, 30_000, 'prometheus ready')
  } catch (err) {
    await stop()
    throw err
  }
  return {
    url,
    pid: child.pid as number,
    async query (q) {
      const r = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(q)}`, { signal: AbortSignal.timeout(5000) })
      const body = await r.json() as { status: string, data: { result: Array<{ metric: Record<string, string>, value: [number, string] }> } }
      if (body.status !== 'success') { throw new Error(`query ${q} failed: ${JSON.stringify(body)}`) }
      return body.data.result.map(s => ({ metric: s.metric, value: Number(s.value[1]) }))
    },
    async targets () {
      const r = await fetch(`${url}/api/v1/targets`, { signal: AbortSignal.timeout(5000) })
      const body = await r.json() as { data: { activeTargets: Array<{ scrapeUrl: string, health: string, lastError: string }> } }
      return body.data.activeTargets
    },
    stop
  }
}

/** Polls `check` (every 100 ms) until it is true; throws naming `what` after `ms`. */
export async function until (check: () => Promise<boolean> | boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) { throw new Error(`${what}: not within ${ms} ms`) }
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}
