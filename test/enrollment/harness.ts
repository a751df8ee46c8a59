import { createPrivateKey } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createCsr } from '../../src/ca/csr-builder.ts'
import { MeshCa } from '../../src/ca/index.ts'
import { httpsRequestPinned } from '../../src/daemon/enroll/https-json.ts'
import { CaService } from '../../src/enrollment/ca-service.ts'
import { createServiceLogger } from '../../src/enrollment/request-log.ts'
import { issueServerTls, serverNames } from '../../src/enrollment/server-cert.ts'
import { createEnrollmentServer } from '../../src/enrollment/server.ts'
import { MIN_SCRYPT_LOG_N } from '../../src/identity/key-file.ts'
import { generatePkcs8, softwareKeyFromPkcs8 } from '../../src/identity/software-key.ts'
import { derToPem } from '../../src/util/pem.ts'
import type { CaInitOptions } from '../../src/ca/index.ts'
import type { HttpsReply } from '../../src/daemon/enroll/https-json.ts'
import type { CaServiceOptions } from '../../src/enrollment/ca-service.ts'
import type { EnrollmentServer } from '../../src/enrollment/server.ts'
import type { EnrollmentServerConfig } from '../../src/enrollment/types.ts'

export const PASS = 'enrollment test passphrase'

/**
 * A test clock: real time (the client checks the server's TLS certificate against the real
 * clock) plus an offset tests move forward to expire tokens and certificates.
 */
export class TestClock {
  offsetMs = 0
  now = (): Date => new Date(Date.now() + this.offsetMs)
  advance (ms: number): void { this.offsetMs += ms }
}

/** Limits high enough that only the rate-limit tests ever meet them. */
export const LOOSE_LIMITS = {
  perAddressLimit: { max: 100_000, windowMs: 60_000 },
  globalLimit: { max: 100_000, windowMs: 60_000 },
  // The coarse pair above sets every per-address and shared bucket; the per-identity one has its own key.
  rateLimits: { authenticated: { perIdentity: { max: 100_000, windowMs: 60_000 } } }
}

export interface Service {
  dir: string
  base: string
  clock: TestClock
  service: CaService
  ca: MeshCa
  rootPem: string
  url: string
  server: EnrollmentServer
  /** Every JSON log line the servers wrote. */
  logs: string[]
  /** Parsed log lines with msg "request" (one per request). */
  requestLogs(): any[]
  /** Starts one more server on the same CA service (other limits), stopped with the harness. */
  extraServer(config: Partial<EnrollmentServerConfig>): Promise<{ url: string }>
  /** Stops servers and closes the CA (the directory stays). */
  stop(): Promise<void>
  /** Stops, then removes the directory. */
  cleanup(): Promise<void>
}

/** Creates a CA in a temp dir and serves it on 127.0.0.1 over HTTPS (port 0). */
export async function startService (opts: { init?: Partial<CaInitOptions>, service?: CaServiceOptions, server?: Partial<EnrollmentServerConfig>, dir?: string, clock?: TestClock } = {}): Promise<Service> {
  const clock = opts.clock ?? new TestClock()
  let base: string
  let dir: string
  let ca: MeshCa
  if (opts.dir == null) {
    base = await mkdtemp(join(tmpdir(), 'dadm-enr-'))
    dir = join(base, 'ca')
    ca = await MeshCa.init({ dir, passphrase: PASS, now: clock.now(), scryptLogN: MIN_SCRYPT_LOG_N, ...opts.init })
  } else {
    dir = opts.dir
    base = join(dir, '..')
    ca = await MeshCa.open({ dir, passphrase: PASS })
  }
  const service = await CaService.wrap(ca, { crlUrl: 'https://127.0.0.1/v1/crl', ...opts.service })
  const tls = await issueServerTls(ca, serverNames('127.0.0.1'), clock.now())
  const servers: EnrollmentServer[] = []
  const logs: string[] = []
  // At debug: the suites read the causes of refused requests, which the service logs at debug.
  const logger = createServiceLogger({ level: 'debug', destination: { write: (line: string) => { logs.push(line) } } as any })
  const start = async (config: Partial<EnrollmentServerConfig>): Promise<{ url: string, server: EnrollmentServer }> => {
    const server = await createEnrollmentServer({
      ca: service,
      config: { tls: { certPem: tls.certPem, keyPem: tls.keyPem }, clientCaPem: ca.rootPem, ...LOOSE_LIMITS, ...config },
      now: clock.now,
      logger
    })
    servers.push(server)
    const { url } = await server.listen({ host: '127.0.0.1', port: 0 })
    return { url, server }
  }
  const main = await start(opts.server ?? {})
  let stopped = false
  const stop = async (): Promise<void> => {
    if (stopped) { return }
    stopped = true
    for (const s of servers) { await s.close() }
    await service.close()
  }
  return {
    dir,
    base,
    clock,
    service,
    ca,
    rootPem: ca.rootPem,
    logs,
    requestLogs: () => logs.map(l => JSON.parse(l)).filter(l => l.msg === 'request'),
    url: main.url,
    server: main.server,
    extraServer: async config => ({ url: (await start(config)).url }),
    stop,
    cleanup: async () => {
      await stop()
      if (opts.dir == null) { await rm(base, { recursive: true, force: true }) }
    }
  }
}

/** A software P-256 identity key with its PEM (for mutual TLS) and a libp2p PeerId. */
export async function nodeKey (): Promise<{ keyPem: string, handle: Awaited<ReturnType<typeof softwareKeyFromPkcs8>>, peerId: string }> {
  const pkcs8 = await generatePkcs8('P-256')
  const handle = await softwareKeyFromPkcs8('test', 'P-256', pkcs8, false)
  const keyPem = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' }) as string
  const peerId = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
  return { keyPem, handle, peerId }
}

/** A node CSR (PEM) for `nodeId`, with its key. */
export async function nodeCsr (nodeId: string): Promise<{ csrPem: string, keyPem: string, peerId: string }> {
  const k = await nodeKey()
  const csrPem = derToPem(await createCsr(k.handle, { nodeId, peerId: k.peerId }), 'CERTIFICATE REQUEST')
  return { csrPem, keyPem: k.keyPem, peerId: k.peerId }
}

/** An admin CSR (PEM) for `name`, with its key. */
export async function adminCsr (name: string): Promise<{ csrPem: string, keyPem: string }> {
  const k = await nodeKey()
  return { csrPem: derToPem(await createCsr(k.handle, { adminName: name }), 'CERTIFICATE REQUEST'), keyPem: k.keyPem }
}

/** mTLS material for a client. */
export interface ClientCred { certPem: string, keyPem: string }

/** One HTTPS request to the service, pinned to its root, optionally with a client certificate. */
export async function call (svc: { url: string, rootPem: string }, method: 'GET' | 'POST', path: string, body?: unknown, options: { client?: ClientCred, headers?: Record<string, string>, raw?: string } = {}): Promise<HttpsReply & { json: any }> {
  const payload = options.raw != null ? Buffer.from(options.raw) : body === undefined ? undefined : Buffer.from(JSON.stringify(body))
  const reply = await httpsRequestPinned(method, svc.url + path, payload, {
    caPem: svc.rootPem,
    ...(options.client != null ? { clientCertPem: options.client.certPem, clientKeyPem: options.client.keyPem } : {}),
    ...(options.headers != null ? { headers: options.headers } : {}),
    maxBytes: 16 * 1024 * 1024
  })
  let json: any
  try { json = JSON.parse(reply.body.toString('utf8')) } catch {}
  return { ...reply, json }
}

/** Creates a token and enrolls `nodeId` through the API; returns its mTLS credential. */
export async function enrollVia (svc: Service, nodeId: string): Promise<ClientCred & { serial: string, body: any }> {
  const { token } = await svc.service.createToken({ ttlMs: 3600_000, uses: 1 }, svc.clock.now())
  const csr = await nodeCsr(nodeId)
  const r = await call(svc, 'POST', '/v1/enroll', { token, csr: csr.csrPem, node_id: nodeId })
  if (r.status !== 200) { throw new Error(`enroll failed: ${r.status} ${r.body.toString()}`) }
  return { certPem: r.json.certificate + r.json.chain, keyPem: csr.keyPem, serial: r.json.serial, body: r.json }
}

/** An admin credential issued by the service's CA. */
export async function adminCred (svc: Service, name = 'ops'): Promise<ClientCred & { serial: string }> {
  const csr = await adminCsr(name)
  const r = await svc.service.issueAdminCert({ csrPem: csr.csrPem, name }, svc.clock.now())
  return { certPem: r.certificatePem + r.chainPem, keyPem: csr.keyPem, serial: r.serialHex }
}

/** Number of certificates the CA has stored (server certificates included). */
export async function certCount (svc: Service): Promise<number> {
  return svc.ca.store.countCerts()
}
