import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect } from 'node:tls'
import { promisify } from 'node:util'
import { expect } from 'aegir/chai'
import { MeshCa } from '../../src/ca/index.ts'
import { CaService } from '../../src/enrollment/ca-service.ts'
import { issueServerTls, scheduleServerTlsRenewal, serverNames } from '../../src/enrollment/server-cert.ts'
import { createEnrollmentServer } from '../../src/enrollment/server.ts'
import { MIN_SCRYPT_LOG_N } from '../../src/identity/key-file.ts'
import { LOOSE_LIMITS, PASS } from './harness.ts'
import type { ServerTls } from '../../src/enrollment/server-cert.ts'
import type { EnrollmentServer } from '../../src/enrollment/server.ts'

const execFileP = promisify(execFile)

/** What a client with the given TLS version range got: the protocol and server serial, or the error code. */
async function probe (port: number, range: { minVersion: 'TLSv1.2' | 'TLSv1.3', maxVersion: 'TLSv1.2' | 'TLSv1.3' }, rootPem: string): Promise<{ protocol?: string, serial?: string, error?: string }> {
  return new Promise(resolve => {
    const socket = connect({ host: '127.0.0.1', port, ca: rootPem, servername: 'localhost', ...range })
    socket.setTimeout(10_000, () => { socket.destroy(); resolve({ error: 'TIMEOUT' }) })
    socket.once('secureConnect', () => {
      const out = { protocol: socket.getProtocol() ?? undefined, serial: socket.getPeerCertificate().serialNumber.toLowerCase().replace(/^0+/, '') }
      socket.destroy()
      resolve(out)
    })
    socket.once('error', (err: NodeJS.ErrnoException) => { resolve({ error: err.code ?? err.message }) })
  })
}

/** `openssl s_client -tls1_2` against the port: exit code and what it printed. */
async function opensslTls12 (port: number): Promise<{ code: number, output: string }> {
  try {
    const r = await execFileP('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-tls1_2', '-servername', 'localhost'], { timeout: 15_000 })
    return { code: 0, output: r.stdout + r.stderr }
  } catch (err: any) {
    if (err.code === 'ENOENT') { throw new Error('openssl is not installed') }
    return { code: typeof err.code === 'number' ? err.code : 1, output: String(err.stdout ?? '') + String(err.stderr ?? '') }
  }
}

const bareSerial = (hex: string): string => hex.toLowerCase().replace(/^0+/, '')

/**
 * The CA's HTTPS service renews its own certificate at 2/3 of its life (scheduleServerTlsRenewal,
 * wired to `server.setTls` as `ca serve` wires it). Node's setSecureContext falls back to TLS 1.2
 * for a version it is not given, so the test renews for real and probes with TLS 1.2 clients.
 */
describe('enrollment service: TLS 1.3 only, also after it renews its own certificate', function () {
  let base: string
  let ca: MeshCa
  let service: CaService
  let server: EnrollmentServer
  let port: number
  let first: ServerTls
  let renewal: { stop(): void } | undefined

  before(async function () {
    // Written rule: the outside checker is the system's openssl.
    try { await execFileP('openssl', ['version']) } catch { this.skip() }
    base = await mkdtemp(join(tmpdir(), 'dadm-tls13-'))
    // The CA predates the first server certificate, which is issued in the past below.
    ca = await MeshCa.init({ dir: join(base, 'ca'), passphrase: PASS, now: new Date(Date.now() - 120_000), scryptLogN: MIN_SCRYPT_LOG_N })
    service = await CaService.wrap(ca, { crlUrl: 'https://127.0.0.1/v1/crl' })
    // A 60 s certificate issued 50 s ago: past 2/3 of its life, so the renewal is due at once.
    first = await issueServerTls(ca, serverNames('127.0.0.1'), new Date(Date.now() - 50_000), 60)
    server = await createEnrollmentServer({ ca: service, config: { tls: first, clientCaPem: ca.rootPem, ...LOOSE_LIMITS } })
    port = (await server.listen({ host: '127.0.0.1', port: 0 })).port
  })

  after(async () => {
    renewal?.stop()
    await server?.close()
    await service?.close()
    if (base != null) { await rm(base, { recursive: true, force: true }) }
  })

  it('refuses a TLS 1.2 client (node and openssl s_client -tls1_2) and serves TLS 1.3 with its first certificate', async () => {
    expect(await probe(port, { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' }, ca.rootPem)).to.deep.equal({ error: 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION' })
    const ossl = await opensslTls12(port)
    expect(ossl.code).to.not.equal(0)
    expect(ossl.output).to.include('alert protocol version')
    expect(await probe(port, { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' }, ca.rootPem)).to.deep.equal({ protocol: 'TLSv1.3', serial: bareSerial(first.serialHex) })
  })

  it('after the scheduled renewal swaps in a new certificate, a TLS 1.2 client is still refused', async () => {
    // 1. Renew as `ca serve` does, and wait (bounded) for the new certificate to be applied.
    const applied = await new Promise<ServerTls>((resolve, reject) => {
      const deadline = setTimeout(() => { reject(new Error('no renewal within 15 s')) }, 15_000)
      renewal = scheduleServerTlsRenewal({
        current: first,
        renew: async () => issueServerTls(ca, serverNames('127.0.0.1'), new Date()),
        apply: next => { server.setTls(next); clearTimeout(deadline); resolve(next) },
        now: () => new Date(),
        onError: err => { clearTimeout(deadline); reject(err) }
      })
    })
    expect(applied.serialHex).to.not.equal(first.serialHex)
    // 2. The new certificate is served, over TLS 1.3 only.
    expect(await probe(port, { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' }, ca.rootPem)).to.deep.equal({ protocol: 'TLSv1.3', serial: bareSerial(applied.serialHex) })
    expect(await probe(port, { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' }, ca.rootPem)).to.deep.equal({ error: 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION' })
    const ossl = await opensslTls12(port)
    expect(ossl.code).to.not.equal(0)
    expect(ossl.output).to.include('alert protocol version')
  })
})
