/**
 * Load generator for bench/enroll.ts, run as its own process so that the client's TLS and JSON
 * work does not share the service's thread (as with a real client on the same host). Reads
 * `{ url, caPem, items: [{ token, csr }], concurrency, warmup, maxMs }` as JSON on stdin and
 * prints `{ ok, failed, seconds, medianMs }` on stdout. Bounded by the item count and `maxMs`.
 */
import { Agent, request } from 'node:https'
import { median } from './types.ts'

interface Job { url: string, caPem: string, items: Array<{ token: string, csr: string }>, concurrency: number, warmup: number, maxMs: number }

function post (agent: Agent, url: string, caPem: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, ca: caPem, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }, signal: AbortSignal.timeout(30_000) }, res => {
      res.resume()
      res.on('end', () => { resolve(res.statusCode ?? 0) })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}

const chunks: Buffer[] = []
for await (const c of process.stdin) { chunks.push(c as Buffer) }
const job = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Job
const agent = new Agent({ keepAlive: true, maxSockets: job.concurrency, ca: job.caPem })
const target = `${job.url}/v1/enroll`
const send = async (i: { token: string, csr: string }): Promise<number> => post(agent, target, job.caPem, JSON.stringify(i))

// Warm-up: JIT, TLS handshakes and keep-alive sockets, excluded from the figure.
const warm = job.items.splice(0, job.warmup)
await Promise.all(warm.map(send))
let next = 0
let ok = 0
let failed = 0
const latencies: number[] = []
const start = performance.now()
const deadline = start + job.maxMs
await Promise.all(Array.from({ length: job.concurrency }, async () => {
  while (next < job.items.length && performance.now() < deadline) {
    const item = job.items[next++]
    const t0 = performance.now()
    const status = await send(item)
    latencies.push(performance.now() - t0)
    if (status === 200) { ok++ } else { failed++ }
  }
}))
const seconds = (performance.now() - start) / 1000
agent.destroy()
process.stdout.write(JSON.stringify({ ok, failed, seconds, medianMs: median(latencies) }) + '\n')
