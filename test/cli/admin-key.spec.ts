import { execFile } from 'node:child_process'
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { expect } from 'aegir/chai'
import { MeshCa } from '../../src/ca/index.ts'
import { main } from '../../src/cli/main.ts'
import { MIN_SCRYPT_LOG_N } from '../../src/identity/key-file.ts'
import { PBKDF2_ITERATIONS } from '../../src/identity/pkcs8-encrypt.ts'
import { enrollVia, PASS, startService } from '../enrollment/harness.ts'
import type { Service } from '../enrollment/harness.ts'

const execFileP = promisify(execFile)

/** Runs a tool; returns its exit code and output instead of throwing on a non-zero exit. */
async function tool (cmd: string, args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  try {
    const r = await execFileP(cmd, args, { timeout: 30_000, maxBuffer: 4 * 1024 * 1024 })
    return { code: 0, stdout: r.stdout, stderr: r.stderr }
  } catch (err: any) {
    if (err.code === 'ENOENT') { throw new Error(`${cmd} is not installed`) }
    return { code: typeof err.code === 'number' ? err.code : 1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' }
  }
}

interface Run { code: number, stdout: string, stderr: string }

async function run (argv: string[], env: Record<string, string | undefined>): Promise<Run> {
  let stdout = ''
  let stderr = ''
  const code = await main(argv, { stdout: { write: (s: string) => { stdout += s } }, stderr: { write: (s: string) => { stderr += s } }, env })
  return { code, stdout, stderr }
}

const exists = async (p: string): Promise<boolean> => stat(p).then(() => true, () => false)

/** The admin key's own passphrase: long enough, and not the CA's (PASS). */
const KEY_PASS = 'admin key passphrase, not the CA one'

/**
 * `ca admin-cert`: the operator key has a passphrase of its own that is not the CA's, and is
 * written as PKCS#8 PBES2 with PBKDF2-HMAC-SHA256 at 600,000 iterations, which openssl and curl
 * read. Every refusal exits before the CA issues anything.
 */
describe('cli: ca admin-cert key passphrase and key file', function () {
  let base: string
  let dir: string
  let n = 0

  before(async function () {
    // Written rule: these tests use the system's openssl and curl as outside checkers.
    for (const t of ['curl', 'openssl']) {
      if ((await tool('sh', ['-c', `command -v ${t}`])).code !== 0) { this.skip() }
    }
    base = await mkdtemp(join(tmpdir(), 'dadm-admin-key-'))
    dir = join(base, 'ca')
    const ca = await MeshCa.init({ dir, passphrase: PASS, now: new Date(), scryptLogN: MIN_SCRYPT_LOG_N })
    await ca.close()
  })

  after(async () => {
    if (base != null) { await rm(base, { recursive: true, force: true }) }
  })

  /** Certificates the CA has issued so far (root and intermediate included). */
  async function issuedCount (): Promise<number> {
    const ca = await MeshCa.open({ dir, passphrase: PASS })
    try {
      return await ca.store.countCerts()
    } finally {
      await ca.close()
    }
  }

  /** A secret file with the given mode. */
  async function secretFile (content: string, mode: number): Promise<string> {
    const p = join(base, `secret-${++n}`)
    await writeFile(p, content + '\n')
    // chmod, not writeFile's mode: the umask would filter that.
    await chmod(p, mode)
    return p
  }

  /** Runs admin-cert into fresh output paths; returns them with the result. */
  async function adminCert (extra: string[], env: Record<string, string | undefined>): Promise<Run & { cert: string, key: string }> {
    const cert = join(base, `ops-${++n}.pem`)
    const key = join(base, `ops-${n}.key`)
    const r = await run(['ca', 'admin-cert', '--dir', dir, '--name', 'ops', '--out-cert', cert, '--out-key', key, ...extra], env)
    return { ...r, cert, key }
  }

  async function expectNothingIssued (r: { cert: string, key: string }, before: number): Promise<void> {
    expect(await exists(r.cert), 'certificate file').to.equal(false)
    expect(await exists(r.key), 'key file').to.equal(false)
    expect(await issuedCount()).to.equal(before)
  }

  it('refuses without a key passphrase of its own: exit 2 naming --key-passphrase-file, nothing issued', async () => {
    const before = await issuedCount()
    // Only the CA passphrase is at hand: it is not used for the admin key.
    const r = await adminCert([], { DADM_MESH_PASSPHRASE: PASS })
    expect(r.code, r.stderr).to.equal(2)
    expect(r.stderr).to.include('--key-passphrase-file')
    expect(r.stderr).to.include('DADM_MESH_ADMIN_KEY_PASSPHRASE')
    await expectNothingIssued(r, before)
    // An empty passphrase file is no passphrase either.
    const empty = await adminCert(['--key-passphrase-file', await secretFile('', 0o600)], { DADM_MESH_PASSPHRASE: PASS })
    expect(empty.code, empty.stderr).to.equal(2)
    await expectNothingIssued(empty, before)
  })

  it('refuses the CA passphrase as the admin key passphrase (ADMIN_PASSPHRASE_REUSED, exit 2), nothing issued', async () => {
    const before = await issuedCount()
    // 1. The CA passphrase this process holds, given again as the key passphrase.
    const same = await adminCert([], { DADM_MESH_PASSPHRASE: PASS, DADM_MESH_ADMIN_KEY_PASSPHRASE: PASS })
    expect(same.code, same.stderr).to.equal(2)
    expect(same.stderr).to.include('error: ADMIN_PASSPHRASE_REUSED:')
    await expectNothingIssued(same, before)
    // 2. No CA passphrase in this process (as beside a running `ca serve`): the CA key file tells.
    const fromFile = await adminCert(['--key-passphrase-file', await secretFile(PASS, 0o600)], {})
    expect(fromFile.code, fromFile.stderr).to.equal(2)
    expect(fromFile.stderr).to.include('error: ADMIN_PASSPHRASE_REUSED:')
    await expectNothingIssued(fromFile, before)
  })

  it('refuses a key passphrase shorter than 12 characters (PASSPHRASE_TOO_SHORT, exit 2), nothing issued', async () => {
    const before = await issuedCount()
    const r = await adminCert([], { DADM_MESH_PASSPHRASE: PASS, DADM_MESH_ADMIN_KEY_PASSPHRASE: 'elevenchars' })
    expect(r.code, r.stderr).to.equal(2)
    expect(r.stderr).to.include('error: PASSPHRASE_TOO_SHORT:')
    await expectNothingIssued(r, before)
  })

  it('refuses a key passphrase file or CA passphrase file readable by group or others (INSECURE_FILE_MODE, exit 2, names the file)', async () => {
    const before = await issuedCount()
    for (const mode of [0o644, 0o640, 0o604, 0o620]) {
      const file = await secretFile(KEY_PASS, mode)
      const r = await adminCert(['--key-passphrase-file', file], { DADM_MESH_PASSPHRASE: PASS })
      expect(r.code, `${mode.toString(8)}: ${r.stderr}`).to.equal(2)
      expect(r.stderr).to.include('error: INSECURE_FILE_MODE:')
      expect(r.stderr).to.include(file)
      await expectNothingIssued(r, before)
    }
    const caPassFile = await secretFile(PASS, 0o644)
    const r = await adminCert(['--key-passphrase-file', await secretFile(KEY_PASS, 0o600), '--passphrase-file', caPassFile], {})
    expect(r.code, r.stderr).to.equal(2)
    expect(r.stderr).to.include(`error: INSECURE_FILE_MODE: passphrase file ${caPassFile}`)
    await expectNothingIssued(r, before)
  })

  describe('with a key passphrase of its own', () => {
    let issued: Run & { cert: string, key: string }
    let keyPassFile: string

    before(async () => {
      keyPassFile = await secretFile(KEY_PASS, 0o600)
      issued = await adminCert(['--key-passphrase-file', keyPassFile], { DADM_MESH_PASSPHRASE: PASS })
      expect(issued.code, issued.stderr).to.equal(0)
    })

    it('writes the key 0600 as PBES2 with PBKDF2-HMAC-SHA256 at >= 600,000 iterations and AES-256-CBC (openssl asn1parse)', async () => {
      expect((await stat(issued.key)).mode & 0o777).to.equal(0o600)
      expect(await readFile(issued.key, 'utf8')).to.match(/^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/)
      const parsed = await tool('openssl', ['asn1parse', '-in', issued.key])
      expect(parsed.code, parsed.stderr).to.equal(0)
      const objects = [...parsed.stdout.matchAll(/prim: OBJECT\s+:(\S+)/g)].map(m => m[1])
      expect(objects).to.deep.equal(['PBES2', 'PBKDF2', 'hmacWithSHA256', 'aes-256-cbc'])
      const iterations = /:PBKDF2\n(?:.*\n)*?.*prim: INTEGER\s+:([0-9A-F]+)/.exec(parsed.stdout)
      expect(iterations, parsed.stdout).to.not.equal(null)
      expect(parseInt((iterations as RegExpExecArray)[1], 16)).to.be.at.least(600_000).and.to.equal(PBKDF2_ITERATIONS)
    })

    it('openssl pkey reads the key with its passphrase (and not with the CA\'s); it is the key of the certificate', async () => {
      const pub = await tool('openssl', ['pkey', '-in', issued.key, '-passin', `file:${keyPassFile}`, '-pubout'])
      expect(pub.code, pub.stderr).to.equal(0)
      const certPub = await tool('openssl', ['x509', '-in', issued.cert, '-noout', '-pubkey'])
      expect(certPub.code, certPub.stderr).to.equal(0)
      expect(pub.stdout).to.equal(certPub.stdout)
      const wrong = await tool('openssl', ['pkey', '-in', issued.key, '-passin', `pass:${PASS}`, '-noout'])
      expect(wrong.code).to.not.equal(0)
    })

    it('curl --cert --key --pass revokes a node over mutual TLS with it against the running CA; a wrong --pass sends nothing', async () => {
      let svc: Service | undefined
      try {
        svc = await startService({ dir })
        const rootFile = join(base, 'root.pem')
        await writeFile(rootFile, svc.rootPem)
        const victim = await enrollVia(svc, 'curl-victim')
        const body = JSON.stringify({ serial: victim.serial })
        const curl = async (pass: string): Promise<{ code: number, stdout: string, stderr: string }> => tool('curl', [
          '-sS', '--cacert', rootFile, '--cert', issued.cert, '--key', issued.key, '--pass', pass,
          '-H', 'content-type: application/json', '--data-binary', body, '-o', '/dev/null', '-w', '%{http_code}', `${svc?.url as string}/v1/revoke`
        ])
        const requestsBefore = svc.requestLogs().length
        // curl cannot load the key with the wrong passphrase, so it never connects.
        const wrong = await curl(PASS)
        expect(wrong.code, wrong.stderr).to.not.equal(0)
        expect(svc.requestLogs().length).to.equal(requestsBefore)
        expect(await svc.ca.store.getRevocation(victim.serial)).to.equal(undefined)
        const ok = await curl(KEY_PASS)
        expect(ok.code, ok.stderr).to.equal(0)
        expect(ok.stdout).to.equal('204')
        expect(await svc.ca.store.getRevocation(victim.serial)).to.not.equal(undefined)
      } finally {
        await svc?.stop()
      }
    })
  })
})
