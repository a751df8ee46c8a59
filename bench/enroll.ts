import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { CaService } from '../src/enrollment/ca-service.ts'
import { issueServerTls, serverNames } from '../src/enrollment/server-cert.ts'
import { createEnrollmentServer } from '../src/enrollment/server.ts'
import { MIN_SCRYPT_LOG_N } from '../src/identity/key-file.ts'
import { SoftwareKeyStore } from '../src/identity/software-key-store.ts'
import { generatePkcs8, softwareKeyFromPkcs8 } from '../src/identity/software-key.ts'
import { caPaths, ISSUING_KEY_LABEL } from '../src/ca/ca-files.ts'
import { createCsr } from '../src/ca/csr-builder.ts'
import { checkNodeCsr } from '../src/ca/csr-policy.ts'
import { parseCsr } from '../src/ca/csr.ts'
import { MeshCa } from '../src/ca/index.ts'
import { keyIdentifier, leafExtensions, signCertificate } from '../src/pki/x509-build.ts'
import { NODE_URI_PREFIX, PEER_URI_PREFIX } from '../src/pki/node-identity.ts'
import { derToPem } from '../src/util/pem.ts'
import { randomSerialHex } from '../src/store/ca-store.ts'
import { opsPerSecond } from './types.ts'
import type { BenchResult } from './types.ts'

/**
 * Enrollment benchmark: enrollments per second sustained over real HTTPS on loopback (TLS 1.3,
 * keep-alive, 8 requests in flight; each one a token check, CSR parse + self-signature check,
 * policy, atomic token consumption, signing with the software CA key, and two sync LevelDB
 * writes), next to the bound measured in the same run: CSR verify + certificate sign, the two
 * signature operations every enrollment needs, in a tight loop. Goal: ratio >= 0.3.
 * The client runs as its own process (bench/enroll-load.ts), as a client on the same host would,
 * so its TLS and JSON work does not share the service's thread. Bounded in count (ENROLLMENTS)
 * and time (MAX_MS).
 */

const CONCURRENCY = 8
const ENROLLMENTS = 600
const MAX_MS = 15_000
const PASS = 'bench passphrase'

interface Prepared { token: string, csrPem: string }

async function prepare (service: CaService, n: number): Promise<Prepared[]> {
  const out: Prepared[] = []
  const now = new Date()
  for (let i = 0; i < n; i++) {
    const key = await softwareKeyFromPkcs8('bench', 'P-256', await generatePkcs8('P-256'), false)
    const peerId = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const csrPem = derToPem(await createCsr(key, { nodeId: `bench-${i}`, peerId }), 'CERTIFICATE REQUEST')
    out.push({ token: (await service.createToken({ ttlMs: 3600_000, uses: 1 }, now)).token, csrPem })
  }
  return out
}

/** Runs the load generator in its own process and returns what it measured. */
async function runLoad (job: object): Promise<{ ok: number, failed: number, seconds: number, medianMs: number }> {
  const child = spawn(process.execPath, [join(dirname(fileURLToPath(import.meta.url)), 'enroll-load.ts')], { stdio: ['pipe', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (c: Buffer) => { out += c.toString() })
  const code = await new Promise<number | null>(resolve => {
    child.once('exit', resolve)
    child.stdin.end(JSON.stringify(job))
  })
  if (code !== 0) { throw new Error(`load generator exited with ${String(code)}`) }
  return JSON.parse(out)
}

/** Runs the benchmark and returns its figures. */
export async function benchEnroll (): Promise<BenchResult[]> {
  const base = await mkdtemp(join(tmpdir(), 'dadm-bench-enroll-'))
  const dir = join(base, 'ca')
  const ca = await MeshCa.init({ dir, passphrase: PASS, now: new Date(), scryptLogN: MIN_SCRYPT_LOG_N })
  const service = await CaService.wrap(ca, { crlUrl: 'https://127.0.0.1/v1/crl' })
  const tls = await issueServerTls(ca, serverNames('127.0.0.1'), new Date())
  const limits = { max: 1_000_000, windowMs: 60_000 }
  const server = await createEnrollmentServer({ ca: service, config: { tls, clientCaPem: ca.rootPem, perAddressLimit: limits, globalLimit: limits }, logger: false })
  try {
    const { url } = await server.listen({ host: '127.0.0.1', port: 0 })

    // The bound: verify a CSR and sign a certificate with the same software issuing key. Measured
    // before and after the service run and averaged, so drift in machine load hits both alike.
    const issuingKey = await new SoftwareKeyStore({ dir: caPaths(dir).keys, passphrase: PASS }).load(ISSUING_KEY_LABEL)
    const sample = (await prepare(service, 1))[0]
    const csrDer = parseCsr(Buffer.from(sample.csrPem.replace(/-----[^-]+-----|\s/g, ''), 'base64')).der
    const issuerKeyId = keyIdentifier(ca.issuingCertificate.spki)
    const signOnce = async (): Promise<void> => {
      const csr = parseCsr(csrDer)
      const { nodeId, peerId } = checkNodeCsr(csr)
      const now = Date.now()
      await signCertificate({
        serialHex: randomSerialHex(),
        subject: `CN=${nodeId}`,
        issuerName: ca.issuingCertificate.subject.der,
        notBefore: new Date(now),
        notAfter: new Date(now + 86_400_000),
        spki: csr.spki,
        extensions: leafExtensions('node', { uris: [NODE_URI_PREFIX + nodeId, PEER_URI_PREFIX + peerId] }, csr.spki, issuerKeyId),
        signer: issuingKey.signer()
      })
    }
    const boundBefore = await opsPerSecond(signOnce, 1500, 20_000)

    // The service: ENROLLMENTS distinct nodes and tokens, CONCURRENCY in flight from a client
    // process on the same host, until done or MAX_MS.
    const work = await prepare(service, ENROLLMENTS)
    const { ok, failed, seconds, medianMs } = await runLoad({
      url, caPem: ca.rootPem, items: work.map(w => ({ token: w.token, csr: w.csrPem })), concurrency: CONCURRENCY, warmup: 40, maxMs: MAX_MS
    })
    if (failed > 0) { throw new Error(`${failed} enrollments failed during the benchmark`) }
    const bound = (boundBefore + await opsPerSecond(signOnce, 1500, 20_000)) / 2
    const rate = ok / seconds
    const ratio = rate / bound
    return [
      { name: 'CSR verify + certificate sign (software P-256 CA key)', value: bound, unit: 'ops/s' },
      { name: `enrollments over HTTPS, ${CONCURRENCY} in flight (${ok} in ${seconds.toFixed(1)} s)`, value: rate, unit: 'enroll/s', baseline: 'CSR verify + sign', ratio, goal: '>= 0.3', met: ratio >= 0.3 },
      { name: 'enrollment latency, median', value: medianMs, unit: 'ms' }
    ]
  } finally {
    await server.close()
    await service.close()
    await rm(base, { recursive: true, force: true })
  }
}
