import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { MeshCa } from '../../src/ca/index.ts'
import { MIN_SCRYPT_LOG_N } from '../../src/identity/key-file.ts'
import { parseCrl } from '../../src/pki/crl.ts'
import { TokenStore } from '../../src/store/token-store.ts'
import { pemToDer } from '../../src/util/pem.ts'
import { runMain } from '../cli/run-main.ts'
import { startServe } from '../cli/serve-process.ts'
import { ed25519Key, nodeSan, rawCsr, somePeerId } from './csr-fixtures.ts'
import type { CliRun } from '../cli/run-main.ts'
import type { ServeProcess } from '../cli/serve-process.ts'

const PASS = 'backup restore passphrase'

/** The CLI in this process; `env` has no passphrase unless a test gives one (backup and restore need none). */
async function run (argv: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return runMain(argv, env)
}

const exists = async (p: string): Promise<boolean> => stat(p).then(() => true, () => false)

async function withCa<T> (dir: string, fn: (ca: MeshCa) => Promise<T>): Promise<T> {
  const ca = await MeshCa.open({ dir, passphrase: PASS })
  try {
    return await fn(ca)
  } finally {
    await ca.close()
  }
}

/** What the token store says to a token: 'accepted' or the refusal's code. */
async function tokenOutcome (tokens: TokenStore, token: string): Promise<string> {
  try {
    await tokens.consume(token, { now: Date.now() })
    return 'accepted'
  } catch (err: any) {
    return err.code
  }
}

async function auditActions (ca: MeshCa): Promise<string[]> {
  return (await ca.store.auditLog()).map(e => e.action)
}

async function issueNode (ca: MeshCa, nodeId: string): Promise<string> {
  return (await ca.issue({ csr: rawCsr({ ...ed25519Key(), extensions: [nodeSan(nodeId, somePeerId())] }), now: new Date() })).serialHex
}

/**
 * `ca backup` and `ca restore`: a copy made from one store snapshot, without the admin socket,
 * that cannot be served as it is; a restore that checks the mesh's newest CRL, keeps every
 * revocation in it, numbers CRLs above it, voids old tokens, and refuses what it cannot trust.
 */
describe('ca backup and ca restore', function () {
  this.timeout(60_000)
  let base: string
  let dir: string
  /** Serials: `a` stays valid, `b` is revoked by the original CA after the backup. */
  let a: string
  let b: string

  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'dadm-backup-'))
    dir = join(base, 'ca')
    const ca = await MeshCa.init({ dir, passphrase: PASS, now: new Date(Date.now() - 60_000), scryptLogN: MIN_SCRYPT_LOG_N })
    try {
      a = await issueNode(ca, 'keep-a')
      b = await issueNode(ca, 'later-b')
      await ca.currentCrl(new Date())
    } finally {
      await ca.close()
    }
  })
  after(async () => { await rm(base, { recursive: true, force: true }) })

  it('backup of a stopped CA needs no passphrase, copies the files and a store snapshot, and writes a manifest that matches', async () => {
    const out = join(base, 'bk-stopped')
    const r = await run(['ca', 'backup', '--dir', dir, '--out', out, '--json'])
    expect(r.code, r.stderr).to.equal(0)
    const j = JSON.parse(r.stdout)
    expect(j.via).to.equal('store')
    // root, issuing CA and the two node certificates
    expect(j.manifest.high_water).to.include({ certificates: 4, revocations: 0 })
    const names = j.manifest.files.map((f: any) => f.path)
    for (const need of ['ca.json', 'root.pem', 'ca-chain.pem', 'db/CURRENT']) { expect(names).to.include(need) }
    expect(names.some((n: string) => n.startsWith('keys/'))).to.equal(true)
    expect((await stat(out)).mode & 0o777).to.equal(0o700)
    expect((await stat(join(out, 'ca.json'))).mode & 0o777).to.equal(0o600)
    expect(JSON.parse(await readFile(join(out, 'backup.json'), 'utf8')).files).to.deep.equal(j.manifest.files)
  })

  it('backup while `ca serve` runs goes through the service: consistent copy, no admin.sock in it', async () => {
    let serve: ServeProcess | undefined
    try {
      serve = await startServe(dir, { DADM_MESH_PASSPHRASE: PASS })
      expect(await exists(join(dir, 'admin.sock'))).to.equal(true)
      // the store is held by the service: only the socket path can copy it
      const out = join(base, 'bk-live')
      const r = await run(['ca', 'backup', '--dir', dir, '--out', out, '--json'])
      expect(r.code, r.stderr).to.equal(0)
      const j = JSON.parse(r.stdout)
      expect(j.via).to.equal('service')
      const copied: string[] = j.manifest.files.map((f: any) => f.path)
      expect(copied).to.not.include('admin.sock')
      // the CA's own mesh node runs by default: its keys and certificate are copied, its live
      // LevelDB (state the mesh gives back) and its run.json are not
      expect(copied.filter(p => p.startsWith('mesh-node/'))).to.include('mesh-node/node.json')
      expect(copied.filter(p => p.startsWith('mesh-node/db/') || p.endsWith('run.json'))).to.deep.equal([])
      expect(await exists(join(out, 'admin.sock'))).to.equal(false)
      expect(j.manifest.high_water.certificates).to.be.at.least(2)
      // a refusal from the service comes back by code, and nothing is written
      const busy = await run(['ca', 'backup', '--dir', dir, '--out', join(base, 'bk-live')])
      expect(busy.code).to.equal(1)
      expect(busy.stderr).to.match(/^error: BACKUP_TARGET_NOT_EMPTY: /)
      expect(busy.stderr).to.include(join(base, 'bk-live'))
    } finally {
      if (serve != null) {
        process.kill(serve.child.pid as number, 'SIGTERM')
        await serve.exited
      }
    }
  })

  it('backup refuses an --out that is not empty (BACKUP_TARGET_NOT_EMPTY) and writes nothing into it', async () => {
    const out = join(base, 'occupied')
    await mkdir(out)
    await writeFile(join(out, 'keep.txt'), 'mine')
    const r = await run(['ca', 'backup', '--dir', dir, '--out', out])
    expect(r.code).to.equal(1)
    expect(r.stderr).to.match(/^error: BACKUP_TARGET_NOT_EMPTY: /)
    expect(await readdir(out)).to.deep.equal(['keep.txt'])
    const notCa = await run(['ca', 'backup', '--dir', base, '--out', join(base, 'never')])
    expect(notCa.stderr).to.match(/^error: NOT_A_CA: /)
    expect(await exists(join(base, 'never'))).to.equal(false)
    const usage = await run(['ca', 'backup', '--dir', dir])
    expect(usage.code).to.equal(2)
    expect(usage.stderr).to.include('--out')
  })

  it('a backup cannot be served as it is (BACKUP_NOT_RESTORED), and trying leaves it intact', async () => {
    const out = join(base, 'bk-serve')
    expect((await run(['ca', 'backup', '--dir', dir, '--out', out])).code).to.equal(0)
    const before = await readFile(join(out, 'backup.json'), 'utf8')
    const err = await MeshCa.open({ dir: out, passphrase: PASS }).then(() => undefined, e => e)
    expect(err?.code).to.equal('BACKUP_NOT_RESTORED')
    const list = await run(['ca', 'list-certs', '--dir', out])
    expect(list.stderr).to.match(/^error: BACKUP_NOT_RESTORED: /)
    // still restorable: no file changed under the manifest
    const target = join(base, 'from-bk-serve')
    const r = await run(['ca', 'restore', '--from', out, '--dir', target, '--without-seen-crl'])
    expect(r.code, r.stderr).to.equal(0)
    expect(await readFile(join(out, 'backup.json'), 'utf8')).to.equal(before)
  })

  describe('restore', () => {
    let backup: string
    let seenCrl: string
    let seenNumber: bigint
    let oldToken: string

    before(async () => {
      // a token minted before the backup, spent after it: the restore must not make it spendable again
      oldToken = await withCa(dir, async ca => (await new TokenStore(ca.meshStore).create({ now: Date.now(), ttlMs: 3_600_000, uses: 1 })).token)
      backup = join(base, 'bk-main')
      expect((await run(['ca', 'backup', '--dir', dir, '--out', backup])).code).to.equal(0)
      // after the backup, the original CA revokes b and the mesh gets a CRL the backup never saw
      await withCa(dir, async ca => {
        await ca.revoke({ serialHex: b, reason: 'keyCompromise', now: new Date() })
        const crl = await ca.currentCrl(new Date())
        seenNumber = BigInt(crl.crlNumber)
        seenCrl = join(base, 'seen.crl')
        await writeFile(seenCrl, crl.pem)
      })
    })

    it('without --seen-crl or --without-seen-crl it is a usage error (exit 2) naming both flags, and creates nothing', async () => {
      const target = join(base, 'r-usage')
      const r = await run(['ca', 'restore', '--from', backup, '--dir', target])
      expect(r.code).to.equal(2)
      expect(r.stderr).to.include('--seen-crl').and.to.include('--without-seen-crl')
      expect(await exists(target)).to.equal(false)
    })

    it('refuses a seen CRL that another CA signed (SEEN_CRL_FOREIGN) and creates nothing', async () => {
      const other = join(base, 'other-ca')
      const ca = await MeshCa.init({ dir: other, passphrase: PASS, now: new Date(Date.now() - 60_000), scryptLogN: MIN_SCRYPT_LOG_N })
      const foreign = join(base, 'foreign.crl')
      try {
        await writeFile(foreign, (await ca.currentCrl(new Date())).pem)
      } finally {
        await ca.close()
      }
      const target = join(base, 'r-foreign')
      const r = await run(['ca', 'restore', '--from', backup, '--dir', target, '--seen-crl', foreign])
      expect(r.code).to.equal(1)
      expect(r.stderr).to.match(/^error: SEEN_CRL_FOREIGN: /)
      expect(r.stderr).to.include(foreign)
      expect(await exists(target)).to.equal(false)
      expect((await readdir(base)).filter(n => n.includes('restoring'))).to.deep.equal([])
      const junk = join(base, 'junk.crl')
      await writeFile(junk, 'not a crl')
      const bad = await run(['ca', 'restore', '--from', backup, '--dir', target, '--seen-crl', junk])
      expect(bad.stderr).to.match(/^error: SEEN_CRL_UNREADABLE: /)
      expect(await exists(target)).to.equal(false)
    })

    it('refuses a target that is not empty (RESTORE_TARGET_NOT_EMPTY) and leaves it as it was', async () => {
      const r = await run(['ca', 'restore', '--from', backup, '--dir', dir, '--seen-crl', seenCrl])
      expect(r.code).to.equal(1)
      expect(r.stderr).to.match(/^error: RESTORE_TARGET_NOT_EMPTY: /)
      expect(await withCa(dir, async ca => (await ca.store.getRevocation(b))?.reason)).to.equal('keyCompromise')
    })

    it('refuses a damaged backup (BACKUP_CORRUPT) and creates nothing', async () => {
      const damaged = join(base, 'bk-damaged')
      expect((await run(['ca', 'backup', '--dir', dir, '--out', damaged])).code).to.equal(0)
      const conf = join(damaged, 'ca.json')
      await chmod(conf, 0o600)
      await writeFile(conf, (await readFile(conf, 'utf8')).replace('{', '{ "x": 1,'))
      const target = join(base, 'r-damaged')
      const r = await run(['ca', 'restore', '--from', damaged, '--dir', target, '--seen-crl', seenCrl])
      expect(r.code).to.equal(1)
      expect(r.stderr).to.match(/^error: BACKUP_CORRUPT: /)
      expect(r.stderr).to.include('ca.json')
      expect(await exists(target)).to.equal(false)
      await rm(join(damaged, 'backup.json'))
      expect((await run(['ca', 'restore', '--from', damaged, '--dir', target, '--seen-crl', seenCrl])).stderr).to.match(/^error: BACKUP_CORRUPT: .*no manifest/)
    })

    it('with the mesh\'s CRL: keeps the revocation the backup lacked, numbers CRLs above it, voids old tokens', async () => {
      const target = join(base, 'restored')
      const r = await run(['ca', 'restore', '--from', backup, '--dir', target, '--seen-crl', seenCrl, '--json'])
      expect(r.code, r.stderr).to.equal(0)
      const j = JSON.parse(r.stdout)
      expect(j.importedRevocations).to.deep.equal([b])
      expect(j.seen[0]).to.include({ scope: 'issuing', crlNumber: seenNumber.toString() })
      expect(j.tokensDropped).to.be.at.least(1)
      await withCa(target, async ca => {
        expect((await ca.store.getRevocation(b))?.reason).to.equal('keyCompromise')
        expect(await ca.store.getRevocation(a)).to.equal(undefined)
        const crl = parseCrl(pemToDer((await ca.currentCrl(new Date())).pem, 'X509 CRL'))
        // above what the mesh holds, so every node installs it, and it still lists b
        expect((crl.crlNumber as bigint) > seenNumber).to.equal(true)
        expect([...crl.revoked.keys()]).to.include(b)
        expect(await tokenOutcome(new TokenStore(ca.meshStore), oldToken)).to.equal('TOKEN_REJECTED')
        expect(await auditActions(ca)).to.include('restore')
      })
      expect((await stat(target)).mode & 0o777).to.equal(0o700)
      expect(await exists(join(target, 'backup.json'))).to.equal(false)
    })

    it('without a seen CRL (--without-seen-crl), into an empty directory: CRL numbers restart above the restore time in seconds, with a warning', async () => {
      // an empty directory made ready for it is fine (a mount point, a StateDirectory)
      const target = join(base, 'restored-blind')
      await mkdir(target)
      const t0 = Math.floor(Date.now() / 1000)
      const r = await run(['ca', 'restore', '--from', backup, '--dir', target, '--without-seen-crl'])
      expect(r.code, r.stderr).to.equal(0)
      expect(r.stderr).to.match(/warning: no CRL of the mesh was checked/)
      await withCa(target, async ca => {
        expect((await ca.currentCrl(new Date())).crlNumber).to.be.greaterThan(t0)
        // the revocation after the backup is lost, as the warning says
        expect(await ca.store.getRevocation(b)).to.equal(undefined)
      })
    })
  })
})
