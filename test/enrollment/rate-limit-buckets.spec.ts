import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { request as httpsRequest } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { createCsr } from '../../src/ca/csr-builder.ts'
import { MeshCa } from '../../src/ca/index.ts'
import { main } from '../../src/cli/main.ts'
import { CrlCache } from '../../src/enrollment/crl-cache.ts'
import { addressKey, bucketOf, RATE_LIMIT_DEFAULTS, rateLimitsFromCaConfig, resolveRateLimits } from '../../src/enrollment/rate-buckets.ts'
import { renewalTranscript } from '../../src/enrollment/renewal-proof.ts'
import { MIN_SCRYPT_LOG_N } from '../../src/identity/key-file.ts'
import { parseCrl } from '../../src/pki/crl.ts'
import { derToPem } from '../../src/util/pem.ts'
import { startServe } from '../cli/serve-process.ts'
import { PASS, adminCred, certCount, nodeCsr, nodeKey, startService } from './harness.ts'
import type { ClientCred, Service } from './harness.ts'
import type { RateLimitsConfig } from '../../src/enrollment/rate-buckets.ts'
import type { CrlSnapshot, EnrollmentCa } from '../../src/enrollment/types.ts'
import type { IncomingHttpHeaders } from 'node:http'

interface Reply { status: number, headers: IncomingHttpHeaders, body: Buffer, json: any }

/**
 * One HTTPS request from `localAddress` (any 127.0.0.x: Linux routes all of 127.0.0.0/8 to
 * loopback), so the server sees that source address. Fresh connection each time, 10 s deadline.
 */
async function from (localAddress: string, target: { url: string, rootPem: string }, method: 'GET' | 'POST', path: string, options: { body?: unknown, client?: ClientCred, headers?: Record<string, string> } = {}): Promise<Reply> {
  const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body))
  return new Promise((resolve, reject) => {
    const req = httpsRequest(new URL(target.url + path), {
      method,
      localAddress,
      ca: target.rootPem,
      minVersion: 'TLSv1.3',
      agent: false,
      ...(options.client != null ? { cert: options.client.certPem, key: options.client.keyPem } : {}),
      headers: {
        ...(payload != null ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
        ...options.headers
      },
      signal: AbortSignal.timeout(10_000)
    }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => { chunks.push(c) })
      res.on('error', reject)
      res.on('end', () => {
        const body = Buffer.concat(chunks)
        let json: any
        try { json = JSON.parse(body.toString('utf8')) } catch { json = undefined }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json })
      })
    })
    req.on('error', reject)
    req.end(payload)
  })
}

function expectError (r: Reply, status: number, code: string): void {
  expect(r.status, JSON.stringify(r.json)).to.equal(status)
  expect(r.json.error.code).to.equal(code)
}

function expectLimited (r: Reply): void {
  expectError(r, 429, 'RATE_LIMITED')
  expect(Number(r.headers['retry-after'])).to.be.at.least(1)
}

const WINDOW = 600_000
const lim = (max: number): { max: number, windowMs: number } => ({ max, windowMs: WINDOW })

/** Small limits, windows longer than the test, so every count below is exact. */
const FLOOD_LIMITS: RateLimitsConfig = {
  enrollment: { perAddress: lim(4), global: lim(24) },
  crl: { perAddress: lim(4), global: lim(100) },
  authenticated: { perAddress: lim(4), perIdentity: lim(4) }
}

/** Per flooder and bucket: twice its per-address limit. */
const PER_BUCKET = 8
const FLOODERS = Array.from({ length: 12 }, (_, i) => `127.0.0.${i + 1}`)

/** The unauthenticated enrollment-bucket requests a flooder cycles through. */
const ENROLLMENT_CALLS: Array<[method: 'GET' | 'POST', path: string, body?: unknown]> = [
  ['POST', '/v1/enroll', { token: 'x', csr: 'x' }],
  ['GET', '/v1/enroll/nonce'],
  ['GET', '/v1/renew/nonce'],
  ['POST', '/v1/renew', { certificate: 'x', csr: 'x', nonce: 'AAAA', proof: 'AAAA' }]
]
const AUTH_CALLS: Array<[method: 'POST', path: string, body: unknown]> = [
  ['POST', '/v1/rotate', { csr: 'x', current_cert_serial: 'ab' }],
  ['POST', '/v1/revoke', { serial: 'ab' }]
]

/** One flooder's answers per bucket, in order. */
interface FloodLog { enrollment: Reply[], crl: Reply[], authenticated: Reply[] }

async function floodFrom (addr: string, target: { url: string, rootPem: string }, rounds: number, first = 0): Promise<FloodLog> {
  const log: FloodLog = { enrollment: [], crl: [], authenticated: [] }
  for (let i = first; i < first + rounds; i++) {
    const [em, ep, eb] = ENROLLMENT_CALLS[i % ENROLLMENT_CALLS.length]
    log.enrollment.push(await from(addr, target, em, ep, eb === undefined ? {} : { body: eb }))
    log.crl.push(await from(addr, target, 'GET', '/v1/crl'))
    const [am, ap, ab] = AUTH_CALLS[i % AUTH_CALLS.length]
    log.authenticated.push(await from(addr, target, am, ap, { body: ab }))
  }
  return log
}

describe('enrollment service: rate-limit buckets', () => {
  describe('a flood from 12 source addresses', () => {
    let svc: Service
    before(async () => { svc = await startService({ server: { rateLimits: FLOOD_LIMITS } }) })
    after(async () => { await svc.cleanup() })

    it('the 12-address flood leaves CRL, rotate and revoke working; flooders get RATE_LIMITED', async function () {
      this.timeout(120_000)
      // Issued straight by the service: the set-up spends no bucket.
      const enroll = async (nodeId: string): Promise<ClientCred & { serial: string }> => {
        const { token } = await svc.service.createToken({ ttlMs: 3600_000, uses: 1 }, svc.clock.now())
        const csr = await nodeCsr(nodeId)
        const issued = await svc.service.enroll({ token, csrPem: csr.csrPem, nodeId }, svc.clock.now())
        return { certPem: issued.certificatePem + issued.chainPem, keyPem: csr.keyPem, serial: issued.serialHex }
      }
      const member = await enroll('flood-member')
      const victim = await enroll('flood-victim')
      const admin = await adminCred(svc, 'flood-ops')
      const nextCsr = await nodeCsr('flood-member')
      const certsBefore = await certCount(svc)
      // Count the CA's CRL reads: the route serves from memory, re-reading at most once a second.
      let crlReads = 0
      const crl0 = svc.service.crl.bind(svc.service)
      svc.service.crl = async (...args) => { crlReads++; return crl0(...args) }
      const started = Date.now()

      // Phase 1: every flooder goes to twice each per-address limit.
      const logs = await Promise.all(FLOODERS.map(async a => floodFrom(a, svc, PER_BUCKET)))
      for (const log of logs) {
        // CRL: its own per-address bucket, 4 served then limited (its shared budget, 100, holds 12 x 4).
        expect(log.crl.slice(0, 4).map(r => r.status)).to.deep.equal([200, 200, 200, 200])
        log.crl.slice(4).forEach(expectLimited)
        // Authenticated routes without a certificate: 4 reach the certificate check, then the per-address cap.
        log.authenticated.slice(0, 4).forEach(r => { expectError(r, 401, 'CLIENT_CERT_REQUIRED') })
        log.authenticated.slice(4).forEach(expectLimited)
        // Enrollment: at most 4 pass per address (fewer once the shared 24 are spent); the rest are limited.
        log.enrollment.slice(4).forEach(expectLimited)
        log.enrollment.filter(r => r.status === 429).forEach(expectLimited)
      }
      // The shared enrollment budget is spent exactly: 12 x 4 wanted it, 24 got it ...
      expect(logs.flatMap(l => l.enrollment).filter(r => r.status !== 429)).to.have.length(24)
      // ... so a stranger on a fresh address is limited on the enrollment routes, by the shared bucket.
      expectLimited(await from('127.0.0.40', svc, 'GET', '/v1/enroll/nonce'))
      expectLimited(await from('127.0.0.40', svc, 'POST', '/v1/enroll', { body: { token: 'x', csr: 'x' } }))

      // Phase 2: the flood goes on (bounded: at most 30 rounds an address, 60 s) while honest clients work.
      const flood = { stop: false }
      const deadline = Date.now() + 60_000
      const wave = Promise.all(FLOODERS.map(async a => {
        const seen: Reply[] = []
        for (let i = 0; i < 30 && !flood.stop && Date.now() < deadline; i++) {
          const log = await floodFrom(a, svc, 1, i)
          seen.push(...log.enrollment, ...log.crl, ...log.authenticated)
        }
        // True when the flooder was still going when the honest clients were done.
        return { seen, stoppedByUs: flood.stop }
      }))
      // A fresh client gets the CRL, then a 304 for its tag.
      const crl = await from('127.0.0.20', svc, 'GET', '/v1/crl')
      expect(crl.status).to.equal(200)
      expect(parseCrl(new Uint8Array(crl.body)).crlNumber).to.be.a('bigint')
      const notModified = await from('127.0.0.20', svc, 'GET', '/v1/crl', { headers: { 'if-none-match': crl.headers.etag as string } })
      expect(notModified.status).to.equal(304)
      expect(notModified.body.length).to.equal(0)
      // A member rotates over mutual TLS.
      const rotated = await from('127.0.0.21', svc, 'POST', '/v1/rotate', { client: member, body: { csr: nextCsr.csrPem, current_cert_serial: member.serial } })
      expect(rotated.status, JSON.stringify(rotated.json)).to.equal(200)
      expect(rotated.json.node_id).to.equal('flood-member')
      // An admin revokes, and the fresh client's next fetch lists it.
      const revoked = await from('127.0.0.22', svc, 'POST', '/v1/revoke', { client: admin, body: { serial: victim.serial } })
      expect(revoked.status, JSON.stringify(revoked.json)).to.equal(204)
      const after = await from('127.0.0.20', svc, 'GET', '/v1/crl', { headers: { 'if-none-match': crl.headers.etag as string } })
      expect(after.status).to.equal(200)
      expect([...parseCrl(new Uint8Array(after.body)).revoked.keys()]).to.include(victim.serial)
      // All of that happened during the flood: every flooder was still sending when it was done.
      flood.stop = true
      const flooders = await wave
      expect(flooders.map(f => f.stoppedByUs)).to.deep.equal(FLOODERS.map(() => true))
      const waveAnswers = flooders.flatMap(f => f.seen)
      expect(waveAnswers.length).to.be.at.least(FLOODERS.length * 3)
      // Every flooder was over every per-address limit: each answer of the second wave is RATE_LIMITED.
      waveAnswers.forEach(expectLimited)
      // The enrollment flood issued nothing: one certificate more, the member's rotation.
      expect(await certCount(svc)).to.equal(certsBefore + 1)
      // Dozens of CRLs served; the CA read at most once per second plus once after the revocation.
      const served = [...logs.flatMap(l => l.crl), crl, after].filter(r => r.status === 200).length
      expect(served).to.be.at.least(FLOODERS.length * 4)
      expect(crlReads).to.be.at.most(Math.ceil((Date.now() - started) / 1000) + 2)
    })
  })

  describe('per client identity, after authentication', () => {
    let svc: Service
    before(async () => {
      svc = await startService({ server: { rateLimits: { authenticated: { perAddress: lim(1000), perIdentity: lim(3) } } } })
    })
    after(async () => { await svc.cleanup() })
    afterEach(() => { svc.clock.offsetMs = 0 })

    it('an admin over its identity budget is RATE_LIMITED; another admin and an unauthenticated client on the same address are not', async () => {
      const a = await adminCred(svc, 'ops-a')
      const b = await adminCred(svc, 'ops-b')
      const unknown = { serial: '7f' + '00'.repeat(15) }
      for (let i = 0; i < 3; i++) { expectError(await from('127.0.0.30', svc, 'POST', '/v1/revoke', { client: a, body: unknown }), 404, 'UNKNOWN_SERIAL') }
      expectLimited(await from('127.0.0.30', svc, 'POST', '/v1/revoke', { client: a, body: unknown }))
      // From another address too: the bucket is the identity's, not the address's.
      expectLimited(await from('127.0.0.31', svc, 'POST', '/v1/revoke', { client: a, body: unknown }))
      expectError(await from('127.0.0.30', svc, 'POST', '/v1/revoke', { client: b, body: unknown }), 404, 'UNKNOWN_SERIAL')
      // Counted only after authentication: a client without a certificate still meets the certificate check.
      expectError(await from('127.0.0.30', svc, 'POST', '/v1/revoke', { body: unknown }), 401, 'CLIENT_CERT_REQUIRED')
    })

    it('POST /v1/renew counts per certificate once its proof verifies; a stranger with the victim\'s certificate cannot spend its bucket', async () => {
      const holder = async (nodeId: string): Promise<{ key: Awaited<ReturnType<typeof nodeKey>>, chainPem: string }> => {
        const key = await nodeKey()
        const issued = await svc.ca.issue({ csr: await createCsr(key.handle, { nodeId, peerId: key.peerId }), now: svc.clock.now(), validitySeconds: 60 })
        return { key, chainPem: issued.pem + issued.chainPem }
      }
      const victim = await holder('renew-victim')
      const stranger = await holder('renew-stranger')
      const renew = async (cert: typeof victim, signer: typeof victim): Promise<Reply> => {
        const next = await nodeKey()
        const csrDer = await createCsr(next.handle, { nodeId: 'renew-victim', peerId: cert.key.peerId })
        const nonce = Buffer.from((await from('127.0.0.32', svc, 'GET', '/v1/renew/nonce')).json.nonce, 'base64')
        const proof = await signer.key.handle.sign(renewalTranscript(new Uint8Array(nonce), csrDer))
        return from('127.0.0.32', svc, 'POST', '/v1/renew', {
          body: { certificate: cert.chainPem, csr: derToPem(csrDer, 'CERTIFICATE REQUEST'), nonce: nonce.toString('base64'), proof: Buffer.from(proof).toString('base64') }
        })
      }
      // Renewal is for expired certificates: both have just expired (inside the renewal window).
      svc.clock.advance(120_000)
      // The stranger's proofs do not verify under the victim's key: the CA refuses each, none is counted.
      for (let i = 0; i < 5; i++) { expectError(await renew(victim, stranger), 401, 'RENEWAL_PROOF_INVALID') }
      // The victim's own proofs are counted: three reach the CA (the first renews; the CA refuses
      // the others by its own rules), the fourth is limited before the CA sees it.
      const answers = []
      for (let i = 0; i < 3; i++) { answers.push(await renew(victim, victim)) }
      expect(answers[0].status, JSON.stringify(answers[0].json)).to.equal(200)
      answers.slice(1).forEach(r => { expect(r.status, JSON.stringify(r.json)).to.not.equal(429) })
      const certs = await certCount(svc)
      expectLimited(await renew(victim, victim))
      expect(await certCount(svc)).to.equal(certs)
    })
  })

  it('per-address keys: IPv4 as is, IPv4-mapped as IPv4, IPv6 by /64', () => {
    expect(addressKey('2001:db8:1:2::1')).to.equal(addressKey('2001:db8:1:2:ffff:eeee:dddd:9'))
    expect(addressKey('2001:db8:1:3::1')).to.not.equal(addressKey('2001:db8:1:2::1'))
    expect(addressKey('192.0.2.7')).to.equal('192.0.2.7')
    expect(addressKey('::ffff:192.0.2.7')).to.equal('192.0.2.7')
    expect(addressKey('192.0.2.7')).to.not.equal(addressKey('192.0.2.8'))
  })

  it('routes fall into their buckets; an unknown route is an enrollment (public) request', () => {
    expect(bucketOf('GET', '/v1/crl')).to.equal('crl')
    expect(bucketOf('GET', '/v1/notices')).to.equal('crl')
    expect(bucketOf('POST', '/v1/rotate')).to.equal('authenticated')
    expect(bucketOf('POST', '/v1/revoke')).to.equal('authenticated')
    for (const [m, p] of [['POST', '/v1/enroll'], ['GET', '/v1/enroll/nonce'], ['GET', '/v1/renew/nonce'], ['POST', '/v1/renew'], ['GET', '/v1/openapi.json']]) {
      expect(bucketOf(m, p)).to.equal('enrollment')
    }
    expect(bucketOf('GET', undefined)).to.equal('enrollment')
  })

  it('ca.json enrollment.rate_limits: read field by field over the defaults; a bad field is BAD_CA_CONFIG naming it', () => {
    const read = rateLimitsFromCaConfig({ enrollment: { rate_limits: { crl: { global: { max: 5000, window_seconds: 10 } }, cache_entries: 50 } } })
    expect(read).to.deep.equal({ crl: { global: { max: 5000, windowMs: 10_000 } }, cacheEntries: 50 })
    const limits = resolveRateLimits({ rateLimits: read })
    expect(limits.crl).to.deep.equal({ perAddress: RATE_LIMIT_DEFAULTS.crl.perAddress, global: { max: 5000, windowMs: 10_000 } })
    expect(limits.enrollment).to.deep.equal(RATE_LIMIT_DEFAULTS.enrollment)
    expect(rateLimitsFromCaConfig({})).to.deep.equal({})
    const bad = (rateLimits: unknown, field: string): void => {
      expect(() => rateLimitsFromCaConfig({ enrollment: { rate_limits: rateLimits } })).to.throw(`enrollment.rate_limits.${field}`).with.property('code', 'BAD_CA_CONFIG')
    }
    bad({ crl: { global: { max: 0, window_seconds: 60 } } }, 'crl.global.max')
    bad({ crl: { global: { max: 10, window_seconds: 0 } } }, 'crl.global.window_seconds')
    bad({ crl: { per_identity: { max: 10, window_seconds: 60 } } }, 'crl.per_identity')
    bad({ enrollement: {} }, 'enrollement')
    bad({ cache_entries: -1 }, 'cache_entries')
  })

  it('the older perAddressLimit / globalLimit pair still sets the public buckets, each counting on its own', () => {
    const limits = resolveRateLimits({ perAddressLimit: lim(3), globalLimit: lim(9) })
    expect(limits.enrollment).to.deep.equal({ perAddress: lim(3), global: lim(9) })
    expect(limits.crl).to.deep.equal({ perAddress: lim(3), global: lim(9) })
    expect(limits.authenticated).to.deep.equal({ perAddress: lim(3), perIdentity: RATE_LIMIT_DEFAULTS.authenticated.perIdentity })
  })

  it('the limiters remember at most cacheEntries keys: an address evicted by newer ones starts over', async () => {
    const svc = await startService({ server: { rateLimits: { crl: { perAddress: lim(1), global: lim(1000) }, cacheEntries: 2 } } })
    try {
      expect((await from('127.0.0.50', svc, 'GET', '/v1/crl')).status).to.equal(200)
      expectLimited(await from('127.0.0.50', svc, 'GET', '/v1/crl'))
      // Two newer addresses push .50 out of a two-entry cache: its count is forgotten.
      expect((await from('127.0.0.51', svc, 'GET', '/v1/crl')).status).to.equal(200)
      expect((await from('127.0.0.52', svc, 'GET', '/v1/crl')).status).to.equal(200)
      expect((await from('127.0.0.50', svc, 'GET', '/v1/crl')).status).to.equal(200)
    } finally {
      await svc.cleanup()
    }
  })
})

describe('enrollment service: CrlCache', () => {
  /** A fake CA counting its CRL reads, with a revocation hook like CaService's. */
  function fakeCa (): { ca: EnrollmentCa & { onRevocationCrl(l: () => void): () => void }, reads(): number, revoke(): void } {
    let reads = 0
    let n = 1
    const listeners = new Set<() => void>()
    const snapshot = (): CrlSnapshot => ({ der: new Uint8Array([0x30, n]), etag: `tag-${n}`, crlNumber: n, thisUpdate: 0, nextUpdate: 3600_000 })
    const ca = {
      crl: async () => { reads++; return snapshot() },
      onRevocationCrl: (l: () => void) => { listeners.add(l); return () => { listeners.delete(l) } }
    } as unknown as EnrollmentCa & { onRevocationCrl(l: () => void): () => void }
    return { ca, reads: () => reads, revoke: () => { n++; for (const l of listeners) { l() } } }
  }

  it('serves from memory: one CA read for many requests, again after a revocation or a second', async () => {
    const f = fakeCa()
    const cache = new CrlCache(f.ca, { recheckMs: 1000 })
    const t0 = new Date(10_000)
    const first = await Promise.all(Array.from({ length: 50 }, async () => cache.get('issuing', t0)))
    expect(f.reads()).to.equal(1)
    expect(first.every(e => e === first[0])).to.equal(true)
    expect(first[0].derEtag).to.equal('"tag-1"')
    expect(first[0].pemEtag).to.equal('"tag-1.pem"')
    for (let i = 0; i < 50; i++) { await cache.get('issuing', new Date(10_500)) }
    expect(f.reads()).to.equal(1)
    f.revoke()
    expect((await cache.get('issuing', new Date(10_600))).derEtag).to.equal('"tag-2"')
    expect(f.reads()).to.equal(2)
    await cache.get('issuing', new Date(11_600))
    expect(f.reads()).to.equal(3)
    // A clock that went back asks again.
    await cache.get('issuing', new Date(5_000))
    expect(f.reads()).to.equal(4)
    cache.close()
  })

  it('a revocation during a load is not hidden by it: the next request loads again', async () => {
    const f = fakeCa()
    const cache = new CrlCache(f.ca)
    const pending = cache.get('issuing', new Date(0))
    f.revoke()
    await pending
    expect((await cache.get('issuing', new Date(0))).derEtag).to.equal('"tag-2"')
    cache.close()
  })
})

describe('ca serve: ca.json enrollment.rate_limits', () => {
  const env = { DADM_MESH_PASSPHRASE: PASS }
  let base: string
  let dir: string
  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'dadm-rl-serve-'))
    dir = join(base, 'ca')
    await (await MeshCa.init({ dir, passphrase: PASS, now: new Date(), scryptLogN: MIN_SCRYPT_LOG_N })).close()
  })
  after(async () => { await rm(base, { recursive: true, force: true }) })

  async function setRateLimits (limits: unknown): Promise<void> {
    const path = join(dir, 'ca.json')
    const config = JSON.parse(await readFile(path, 'utf8'))
    await writeFile(path, JSON.stringify({ ...config, enrollment: { ...config.enrollment, rate_limits: limits } }, null, 2))
  }

  async function storedCerts (): Promise<number> {
    const ca = await MeshCa.open({ dir, passphrase: PASS })
    try { return await ca.store.countCerts() } finally { await ca.close() }
  }

  it('a bad field stops ca serve: exit 1, BAD_CA_CONFIG naming the field, no stack, nothing issued', async () => {
    await setRateLimits({ crl: { global: { max: 0, window_seconds: 60 } } })
    const before = await storedCerts()
    let stderr = ''
    const code = await main(['ca', 'serve', '--dir', dir, '--listen', '127.0.0.1:0'], { stdout: { write: () => {} }, stderr: { write: (t: string) => { stderr += t } }, env })
    expect(code).to.equal(1)
    expect(stderr).to.contain('BAD_CA_CONFIG').and.contain('enrollment.rate_limits.crl.global.max')
    expect(stderr).to.not.match(/\n\s+at /)
    expect(await storedCerts()).to.equal(before)
  })

  it('the limits it names are the ones ca serve applies', async function () {
    this.timeout(60_000)
    await setRateLimits({ crl: { per_address: { max: 2, window_seconds: 600 } } })
    const serve = await startServe(dir, env)
    const { child, exited, url } = serve
    try {
      const target = { url, rootPem: await readFile(join(dir, 'root.pem'), 'utf8') }
      const statuses = []
      for (let i = 0; i < 3; i++) { statuses.push(await from('127.0.0.60', target, 'GET', '/v1/crl')) }
      expect(statuses.slice(0, 2).map(r => r.status)).to.deep.equal([200, 200])
      expectLimited(statuses[2])
      // The enrollment bucket kept its default: the same address still gets a nonce.
      expect((await from('127.0.0.60', target, 'GET', '/v1/enroll/nonce')).status).to.equal(200)
    } finally {
      if (child.exitCode == null) { child.kill('SIGTERM') }
      await exited
    }
  })
})
