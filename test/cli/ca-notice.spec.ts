import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { decodeNotice, verifyNotice } from '../../protocols/rotate-now/index.ts'
import { main } from '../../src/cli/main.ts'
import { startAdminSocket } from '../../src/enrollment/admin-socket.ts'
import { call, PASS, startService } from '../enrollment/harness.ts'
import type { Service } from '../enrollment/harness.ts'

interface Run { code: number, stdout: string, stderr: string }

async function run (argv: string[], now: Date): Promise<Run> {
  let stdout = ''
  let stderr = ''
  const code = await main(argv, { stdout: { write: (s: string) => { stdout += s } }, stderr: { write: (s: string) => { stderr += s } }, env: { DADM_MESH_PASSPHRASE: PASS }, now: () => now })
  return { code, stdout, stderr }
}

/**
 * `dadm-mesh ca rotate-now` and `ca trust-bundle`: signed by the CA (issuing key,
 * root key), numbered, stored for GET /v1/notices; through a running service's admin socket they
 * also reach the service's notice listeners (its mesh node publishes them).
 */
describe('cli: ca rotate-now and ca trust-bundle', function () {
  let svc: Service
  const trust = (): { roots: any[], intermediates: any[] } => ({ roots: [svc.ca.rootCertificate], intermediates: [svc.ca.issuingCertificate] })

  before(async () => { svc = await startService() })
  after(async () => { await svc.cleanup() })

  it('without a running service: opens the CA, signs and stores the notice (GET /v1/notices hands it out later)', async () => {
    const dir = join(svc.base, 'offline-ca')
    const init = await run(['ca', 'init', '--dir', dir], svc.clock.now())
    expect(init.code, init.stderr).to.equal(0)
    const out = join(svc.base, 'offline.cbor')
    const r = await run(['ca', 'rotate-now', '--dir', dir, '--all', '--out', out], svc.clock.now())
    expect(r.code, r.stderr).to.equal(0)
    expect(r.stdout).to.include('stored')
    expect(decodeNotice(new Uint8Array(await readFile(out))).notice).to.deep.include({ kind: 'rotate-now' })
  })

  it('refuses a command line with neither or both of --node-id and --all (exit 2)', async () => {
    expect((await run(['ca', 'rotate-now', '--dir', svc.dir], svc.clock.now())).code).to.equal(2)
    expect((await run(['ca', 'rotate-now', '--dir', svc.dir, '--all', '--node-id', 'a'], svc.clock.now())).code).to.equal(2)
  })

  it('through the running service: signs, hands the notice to its listeners, and GET /v1/notices serves it', async () => {
    const socket = await startAdminSocket({ dir: svc.dir, ops: svc.service, now: svc.clock.now })
    const heard: Uint8Array[] = []
    const remove = svc.service.onNotice(n => { heard.push(n) })
    try {
      const out = join(svc.base, 'notice.cbor')
      const r = await run(['ca', 'rotate-now', '--dir', svc.dir, '--node-id', 'n-1', '--node-id', 'n-2', '--ttl', '1h', '--out', out], svc.clock.now())
      expect(r.code, r.stderr).to.equal(0)
      expect(r.stdout).to.include('published to the mesh')
      const bytes = new Uint8Array(await readFile(out))
      expect(heard.map(h => Buffer.from(h).toString('hex'))).to.deep.equal([Buffer.from(bytes).toString('hex')])
      const v = verifyNotice(svc.clock.now().getTime(), decodeNotice(bytes), trust())
      expect(v.notice).to.deep.include({ kind: 'rotate-now', targets: ['n-1', 'n-2'] })
      expect(v.notice.exp - v.notice.iat).to.equal(3600_000)
      const served = (await call(svc, 'GET', '/v1/notices')).json.notices as string[]
      expect(served).to.include(Buffer.from(bytes).toString('base64'))
    } finally {
      remove()
      await socket.close()
    }
  })

  it('trust-bundle through the socket is signed by the root; a rotate-now for all nodes names no targets', async () => {
    const socket = await startAdminSocket({ dir: svc.dir, ops: svc.service, now: svc.clock.now })
    try {
      const roots = join(svc.base, 'roots.pem')
      await writeFile(roots, svc.rootPem)
      const out = join(svc.base, 'bundle.cbor')
      const r = await run(['ca', 'trust-bundle', '--dir', svc.dir, '--roots', roots, '--out', out], svc.clock.now())
      expect(r.code, r.stderr).to.equal(0)
      const v = verifyNotice(svc.clock.now().getTime(), decodeNotice(new Uint8Array(await readFile(out))), trust())
      expect(v.signer.fingerprint).to.equal(svc.ca.rootCertificate.fingerprint)
      expect(v.bundle?.roots).to.have.length(1)
      const all = join(svc.base, 'all.cbor')
      expect((await run(['ca', 'rotate-now', '--dir', svc.dir, '--all', '--out', all], svc.clock.now())).code).to.equal(0)
      expect(decodeNotice(new Uint8Array(await readFile(all))).notice.targets).to.equal(undefined)
    } finally {
      await socket.close()
    }
  })
})
