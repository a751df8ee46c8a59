import { execFile } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { expect } from 'aegir/chai'
import { nodeCsr, startService } from './harness.ts'
import type { Service } from './harness.ts'

const run = promisify(execFile)

/** Runs a tool; returns its exit code and output instead of throwing on a non-zero exit. */
async function tool (cmd: string, args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  try {
    const r = await run(cmd, args, { timeout: 30_000, maxBuffer: 4 * 1024 * 1024 })
    return { code: 0, stdout: r.stdout, stderr: r.stderr }
  } catch (err: any) {
    if (err.code === 'ENOENT') { throw new Error(`${cmd} is not installed`) }
    return { code: typeof err.code === 'number' ? err.code : 1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' }
  }
}

describe('enrollment service: real clients (curl, openssl)', function () {
  let svc: Service
  let rootFile: string

  before(async function () {
    // Written rule: these tests drive the system's curl and openssl; without them they cannot run.
    for (const t of ['curl', 'openssl']) {
      if ((await tool('sh', ['-c', `command -v ${t}`])).code !== 0) { this.skip() }
    }
    svc = await startService()
    rootFile = join(svc.base, 'root.pem')
    await writeFile(rootFile, svc.rootPem)
  })
  after(async () => { await svc?.cleanup() })

  it('curl enrolls (pinning the mesh root), and openssl verify accepts the issued chain', async () => {
    const { token } = await svc.service.createToken({ ttlMs: 60_000, uses: 1 }, svc.clock.now())
    const csr = await nodeCsr('curl-node')
    const body = join(svc.base, 'enroll.json')
    await writeFile(body, JSON.stringify({ token, csr: csr.csrPem, node_id: 'curl-node' }))
    const r = await tool('curl', ['-sS', '--cacert', rootFile, '-H', 'content-type: application/json', '--data-binary', `@${body}`, '-w', '\n%{http_code}', `${svc.url}/v1/enroll`])
    expect(r.code, r.stderr).to.equal(0)
    const [json, status] = [r.stdout.slice(0, r.stdout.lastIndexOf('\n')), r.stdout.slice(r.stdout.lastIndexOf('\n') + 1)]
    expect(status).to.equal('200')
    const out = JSON.parse(json)
    const certFile = join(svc.base, 'curl-cert.pem')
    const chainFile = join(svc.base, 'curl-chain.pem')
    await writeFile(certFile, out.certificate)
    await writeFile(chainFile, out.chain)
    const v = await tool('openssl', ['verify', '-CAfile', rootFile, '-untrusted', chainFile, '-purpose', 'sslclient', certFile])
    expect(v.code, v.stderr + v.stdout).to.equal(0)
    expect(v.stdout).to.include(': OK')
    // And with the CRLs (issuing and root) in force, before and after revoking it.
    const crls = join(svc.base, 'crls.pem')
    const writeCrls = async (): Promise<void> => { await writeFile(crls, await svc.service.crlPem(svc.clock.now()) + await svc.service.crlPem(svc.clock.now(), 'root')) }
    await writeCrls()
    expect((await tool('openssl', ['verify', '-crl_check_all', '-CRLfile', crls, '-CAfile', rootFile, '-untrusted', chainFile, certFile])).code).to.equal(0)
    await svc.service.revoke({ serialHex: out.serial }, svc.clock.now())
    await writeCrls()
    const revoked = await tool('openssl', ['verify', '-crl_check_all', '-CRLfile', crls, '-CAfile', rootFile, '-untrusted', chainFile, certFile])
    expect(revoked.code).to.not.equal(0)
    expect(revoked.stdout + revoked.stderr).to.include('certificate revoked')
  })

  it('curl refuses the service when pinned to another mesh root', async () => {
    const other = await startService()
    try {
      const otherRoot = join(svc.base, 'other-root.pem')
      await writeFile(otherRoot, other.rootPem)
      const r = await tool('curl', ['-sS', '--cacert', otherRoot, `${svc.url}/v1/crl`, '-o', '/dev/null'])
      // 60: the peer certificate cannot be authenticated with the given CA certificate.
      expect(r.code).to.equal(60)
    } finally {
      await other.cleanup()
    }
  })

  it('curl fetches the CRL with its ETag and gets 304 on a conditional request; openssl verifies the CRL', async () => {
    const headers = join(svc.base, 'crl-headers.txt')
    const der = join(svc.base, 'crl.der')
    const first = await tool('curl', ['-sS', '--cacert', rootFile, '-D', headers, '-o', der, '-w', '%{http_code}', `${svc.url}/v1/crl`])
    expect(first.stdout).to.equal('200')
    const etag = /^etag: (.+)$/im.exec(await readFile(headers, 'utf8'))?.[1].trim()
    expect(etag).to.match(/^"/)
    const second = await tool('curl', ['-sS', '--cacert', rootFile, '-H', `If-None-Match: ${etag as string}`, '-o', '/dev/null', '-w', '%{http_code}', `${svc.url}/v1/crl`])
    expect(second.stdout).to.equal('304')
    const chainFile = join(svc.dir, 'ca-chain.pem')
    const v = await tool('openssl', ['crl', '-inform', 'DER', '-in', der, '-CAfile', chainFile, '-noout'])
    expect(v.code, v.stderr).to.equal(0)
    expect(v.stderr + v.stdout).to.include('verify OK')
  })
})
