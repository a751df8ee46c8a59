import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { LabProcess } from './process.ts'
import type { Lab } from './topology.ts'

const AGENT = join(dirname(fileURLToPath(import.meta.url)), 'agent.ts')
/** More than an answer that waits on a slow TLS handshake of a loaded machine; less than a scenario's deadlines. */
const ANSWER_MS = 8_000

export interface Agent {
  /** GET `path` on the node's admin API, through the agent in its namespace. */
  get<T = unknown>(path: string): Promise<T>
  /** POST `body` to `path` (the requests `gossip publish` and `bundle send` make). */
  post<T = unknown>(path: string, body: unknown): Promise<T>
  readonly proc: LabProcess
}

/** Starts the observer agent for NODEDIR `dir` on host `host` (see agent.ts) and waits for it to be ready. */
export async function startAgent (lab: Lab, host: string, dir: string, env: Record<string, string>): Promise<Agent> {
  const proc = lab.spawn(host, `agent ${host}`, [process.execPath, AGENT, dir], env, { stdin: true })
  await proc.waitFor(/agent: ready/, 30_000)
  const waiting = new Map<number, { resolve(v: unknown): void, reject(e: Error): void }>()
  let next = 0
  const stdout = proc.child.stdout
  if (stdout == null) { throw new Error('agent has no stdout') }
  createInterface({ input: stdout }).on('line', line => {
    let msg: { id: number, ok: boolean, body?: unknown, error?: string }
    try { msg = JSON.parse(line) } catch { return }
    const w = waiting.get(msg.id)
    if (w == null) { return }
    waiting.delete(msg.id)
    if (msg.ok) { w.resolve(msg.body) } else { w.reject(new Error(msg.error ?? 'agent error')) }
  })
  void proc.exited.then(() => {
    for (const w of waiting.values()) { w.reject(new Error(`agent on ${host} exited`)) }
    waiting.clear()
  })
  const request = async <T>(path: string, body: unknown): Promise<T> => {
    const id = next++
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => { waiting.delete(id); reject(new Error(`agent on ${host}: no answer to ${path} within ${ANSWER_MS} ms`)) }, ANSWER_MS)
      waiting.set(id, { resolve: v => { clearTimeout(timer); resolve(v as T) }, reject: e => { clearTimeout(timer); reject(e) } })
      proc.child.stdin?.write(JSON.stringify({ id, path, ...(body !== undefined ? { body } : {}) }) + '\n')
    })
  }
  return {
    proc,
    async get<T> (path: string): Promise<T> { return request<T>(path, undefined) },
    async post<T> (path: string, body: unknown): Promise<T> { return request<T>(path, body) }
  }
}
