import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { decodeNotice, verifyNotice } from '../../protocols/rotate-now/index.ts'
import { startAdminSocket } from '../../src/enrollment/admin-socket.ts'
import { call, PASS, startService } from '../enrollment/harness.ts'
import { runMain } from './run-main.ts'
import type { CliRun } from './run-main.ts'
import type { Service } from '../enrollment/harness.ts'

async function run (argv: string[], now: Date): Promise<CliRun> {
  return runMain(argv, { DADM_MESH_PASSPHRASE: PASS }, { now: () => now })
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
      // This service runs no mesh node: the command must not claim a push that did not happen.
      expect(r.stdout).to.include('stored, NOT pushed').and.include('--no-mesh')
      expect(r.stdout).to.not.include('published')
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

  it('notices-all-kept: a rotate-now for one node does not replace a pending one for all; GET /v1/notices serves both, oldest first', async () => {
    const socket = await startAdminSocket({ dir: svc.dir, ops: svc.service, now: svc.clock.now })
    try {
      const all = join(svc.base, 'keep-all.cbor')
      const one = join(svc.base, 'keep-one.cbor')
      expect((await run(['ca', 'rotate-now', '--dir', svc.dir, '--all', '--out', all], svc.clock.now())).code).to.equal(0)
      expect((await run(['ca', 'rotate-now', '--dir', svc.dir, '--node-id', 'only-me', '--out', one], svc.clock.now())).code).to.equal(0)
      const served = (await call(svc, 'GET', '/v1/notices')).json.notices as string[]
      const b64 = async (f: string): Promise<string> => (await readFile(f)).toString('base64')
      expect(served).to.include(await b64(all))
      expect(served).to.include(await b64(one))
      const seqs = served.map(n => decodeNotice(new Uint8Array(Buffer.from(n, 'base64'))).notice.seq)
      expect(seqs).to.deep.equal([...seqs].sort((a, b) => a - b))
    } finally {
      await socket.close()
    }
  })

  it('notices-expire: an expired notice is no longer served, and the next save drops it from the store', async () => {
    const socket = await startAdminSocket({ dir: svc.dir, ops: svc.service, now: svc.clock.now })
    try {
      const short = join(svc.base, 'short.cbor')
      expect((await run(['ca', 'rotate-now', '--dir', svc.dir, '--node-id', 'brief', '--ttl', '60', '--out', short], svc.clock.now())).code).to.equal(0)
      const b64 = (await readFile(short)).toString('base64')
      expect((await call(svc, 'GET', '/v1/notices')).json.notices).to.include(b64)
      svc.clock.advance(61_000)
      expect((await call(svc, 'GET', '/v1/notices')).json.notices).to.not.include(b64)
      expect((await run(['ca', 'rotate-now', '--dir', svc.dir, '--node-id', 'later'], svc.clock.now())).code).to.equal(0)
      expect((await svc.ca.store.listNotices()).map(n => n.notice)).to.not.include(b64)
    } finally {
      await socket.close()
    }
  })

  it('notice-limit: beyond the unexpired notices the CA keeps, rotate-now is refused NOTICE_LIMIT and nothing is stored', async () => {
    const before = (await svc.ca.store.listNotices()).length
    const { MAX_NOTICES_KEPT } = await import('../../src/store/ca-store.ts')
    const t = svc.clock.now().getTime()
    const err = await svc.ca.store.saveNotice('rotate-now', 'AA==', t, 1, t + 1000, before).then(() => undefined, (e: unknown) => e)
    expect(err).to.have.property('code', 'NOTICE_LIMIT')
    expect((await svc.ca.store.listNotices()).length).to.equal(before)
    // The service answers it as the catalogue's NOTICE_LIMIT (409), not INTERNAL.
    const { toEnrollmentError } = await import('../../src/enrollment/error-map.ts')
    expect(toEnrollmentError(err).code).to.equal('NOTICE_LIMIT')
    expect(MAX_NOTICES_KEPT).to.equal(64)
  })
})
