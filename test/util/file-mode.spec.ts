import { chmod, lstat, mkdir, mkdtemp, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { MeshCa } from '../../src/ca/index.ts'
import { main } from '../../src/cli/main.ts'
import { enrollNode } from '../../src/daemon/enroll/enroll-node.ts'
import { openNodeCredentials } from '../../src/daemon/runtime/node-dir.ts'
import { MIN_SCRYPT_LOG_N } from '../../src/identity/key-file.ts'
import { resolvePassphrase } from '../../src/identity/passphrase.ts'
import { resolvePin } from '../../src/identity/pkcs11-pin.ts'
import { assertPrivateFile, ensurePrivateDir } from '../../src/util/file-mode.ts'
import { startService } from '../enrollment/harness.ts'
import type { Service } from '../enrollment/harness.ts'

const PASS = 'file mode test passphrase'

async function rejects (p: Promise<unknown>): Promise<any> {
  try {
    await p
  } catch (err) {
    return err
  }
  throw new Error('expected a rejection')
}

const modeOf = async (p: string): Promise<number> => (await lstat(p)).mode & 0o777
const exists = async (p: string): Promise<boolean> => stat(p).then(() => true, () => false)

/** Every directory and file under `root` (root included) with its permission bits. */
async function walk (root: string): Promise<Array<{ path: string, dir: boolean, mode: number }>> {
  const out = [{ path: root, dir: true, mode: await modeOf(root) }]
  for (const e of await readdir(root, { withFileTypes: true })) {
    const p = join(root, e.name)
    if (e.isDirectory()) { out.push(...await walk(p)) } else { out.push({ path: p, dir: false, mode: await modeOf(p) }) }
  }
  return out
}

/** Writes `content` and sets `mode` with chmod (writeFile's mode would be filtered by the umask). */
async function fileWithMode (path: string, content: string, mode: number): Promise<string> {
  await writeFile(path, content)
  await chmod(path, mode)
  return path
}

/** Runs `fn` with the process umask set to `mask`, restoring the old one after. */
async function withUmask<T> (mask: number, fn: () => Promise<T>): Promise<T> {
  const old = process.umask(mask)
  try {
    return await fn()
  } finally {
    process.umask(old)
  }
}

describe('file modes: CA and node directories, secret files', function () {
  let base: string

  before(async () => { base = await mkdtemp(join(tmpdir(), 'dadm-modes-')) })
  after(async () => { await rm(base, { recursive: true, force: true }) })

  it('assertPrivateFile refuses any group or other bit (INSECURE_FILE_MODE naming the file); ensurePrivateDir forces 0700 (through a symlink too)', async () => {
    const f = join(base, 'unit-secret')
    for (const mode of [0o640, 0o604, 0o620, 0o602, 0o610, 0o601, 0o644]) {
      await fileWithMode(f, 'x', mode)
      const st = await lstat(f)
      const err = (() => { try { assertPrivateFile(f, st, 'passphrase file') } catch (e) { return e } })() as any
      expect(err, mode.toString(8)).to.include({ name: 'FileModeError', code: 'INSECURE_FILE_MODE', path: f })
      expect(err.message).to.include(f)
    }
    await chmod(f, 0o600)
    assertPrivateFile(f, await lstat(f), 'passphrase file')
    await chmod(f, 0o400)
    assertPrivateFile(f, await lstat(f), 'passphrase file')

    const d = join(base, 'unit-dir')
    await mkdir(d, { mode: 0o755 })
    await chmod(d, 0o755)
    await ensurePrivateDir(d)
    expect(await modeOf(d)).to.equal(0o700)
    // A symbolic link to a directory is followed: the directory it names is closed.
    await chmod(d, 0o755)
    const link = join(base, 'unit-link')
    await symlink(d, link)
    await ensurePrivateDir(link)
    expect(await modeOf(d)).to.equal(0o700)
    const notDir = await fileWithMode(join(base, 'unit-file'), 'x', 0o600)
    expect(await rejects(ensurePrivateDir(notDir))).to.have.property('code')
  })

  it('ca init under umask 022 into an existing 0755 directory: the CA dir, keys and LevelDB are 0700, every file 0600', async () => {
    const dir = join(base, 'ca-init')
    await mkdir(dir)
    await chmod(dir, 0o755)
    const ca = await withUmask(0o022, async () => MeshCa.init({ dir, passphrase: PASS, now: new Date(), scryptLogN: MIN_SCRYPT_LOG_N }))
    try {
      const entries = await walk(dir)
      expect(entries.filter(e => e.dir).map(e => e.path)).to.include.members([dir, join(dir, 'keys'), join(dir, 'db')])
      expect(entries.filter(e => !e.dir).map(e => e.path)).to.include.members([join(dir, 'ca.json'), join(dir, 'root.pem'), join(dir, 'keys', 'root.key'), join(dir, 'db', 'CURRENT')])
      for (const e of entries) {
        expect(e.mode, `${e.path} ${e.mode.toString(8)}`).to.equal(e.dir ? 0o700 : 0o600)
      }
    } finally {
      await ca.close()
    }
  })

  it('opening a CA whose directory and LevelDB were opened to others closes them again (0700, files 0600)', async () => {
    const dir = join(base, 'ca-init')
    await chmod(dir, 0o755)
    await chmod(join(dir, 'db'), 0o755)
    await chmod(join(dir, 'db', 'CURRENT'), 0o644)
    const ca = await MeshCa.open({ dir, passphrase: PASS })
    try {
      expect(await modeOf(dir)).to.equal(0o700)
      expect(await modeOf(join(dir, 'db'))).to.equal(0o700)
      for (const e of (await walk(join(dir, 'db'))).filter(e => !e.dir)) {
        expect(e.mode, e.path).to.equal(0o600)
      }
    } finally {
      await ca.close()
    }
  })

  describe('node directory', () => {
    let svc: Service
    before(async () => { svc = await startService() })
    after(async () => { await svc?.cleanup() })

    it('node enroll forces an existing 0755 NODEDIR to 0700, and loading the node forces it again after a chmod', async () => {
      const dir = join(base, 'node-a')
      await mkdir(dir)
      await chmod(dir, 0o755)
      const { token } = await svc.service.createToken({ ttlMs: 60_000, uses: 1, nodeId: 'mode-node' }, svc.clock.now())
      await withUmask(0o022, async () => enrollNode({ dir, caUrl: svc.url, caCertPem: svc.rootPem, token, nodeId: 'mode-node', passphrase: PASS, scryptLogN: MIN_SCRYPT_LOG_N, now: svc.clock.now }))
      expect(await modeOf(dir)).to.equal(0o700)
      expect(await modeOf(join(dir, 'keys'))).to.equal(0o700)
      await chmod(dir, 0o755)
      const creds = await openNodeCredentials(dir, PASS)
      await creds.closeIdentity()
      expect(await modeOf(dir)).to.equal(0o700)
    })
  })

  it('a passphrase file readable by group or others is refused by the CLI (INSECURE_FILE_MODE, exit 2, names the file); nothing is written', async () => {
    const passFile = await fileWithMode(join(base, 'pass-open'), 'cli file pass\n', 0o640)
    const out = join(base, 'refused.key')
    let stderr = ''
    const io = { stdout: { write: () => {} }, stderr: { write: (s: string) => { stderr += s } }, env: {} }
    const code = await main(['keygen', '--out', out, '--passphrase-file', passFile], io)
    expect(code, stderr).to.equal(2)
    expect(stderr).to.include(`error: INSECURE_FILE_MODE: passphrase file ${passFile} has mode 0640`)
    expect(await exists(out)).to.equal(false)
    // The same file, closed to others, is read.
    await chmod(passFile, 0o600)
    expect(await resolvePassphrase({ passphraseFile: passFile })).to.equal('cli file pass')
    await chmod(passFile, 0o604)
    expect(await rejects(resolvePassphrase({ passphraseFile: passFile }))).to.include({ code: 'INSECURE_FILE_MODE', path: passFile })
  })

  it('a PKCS#11 PIN file readable by group or others is refused (INSECURE_FILE_MODE); the PIN is not returned', async () => {
    const pinFile = await fileWithMode(join(base, 'pin-open'), '123456\n', 0o644)
    const err = await rejects(resolvePin({ pinFile, env: {} }))
    expect(err).to.include({ name: 'FileModeError', code: 'INSECURE_FILE_MODE', path: pinFile })
    expect(err.message).to.not.include('123456')
    await chmod(pinFile, 0o600)
    expect(await resolvePin({ pinFile, env: {} })).to.equal('123456')
  })
})
