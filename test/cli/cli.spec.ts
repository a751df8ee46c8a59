import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { main } from '../../src/cli/main.ts'
import { parseCertificate } from '../../src/pki/certificate.ts'
import { pemToDer } from '../../src/util/pem.ts'

const NOW = new Date('2026-03-01T12:00:00Z')
const AT = new Date(NOW.getTime() + 10 * 60_000).toISOString()

interface Run { code: number, stdout: string, stderr: string }

/** Runs the CLI in-process with captured streams, a fixed clock and the given environment. */
async function run (argv: string[], env: Record<string, string | undefined> = { DADM_MESH_PASSPHRASE: 'cli pass' }): Promise<Run> {
  let stdout = ''
  let stderr = ''
  const code = await main(argv, {
    stdout: { write: (s: string) => { stdout += s } },
    stderr: { write: (s: string) => { stderr += s } },
    env,
    now: () => NOW
  })
  return { code, stdout, stderr }
}

const exists = async (p: string): Promise<boolean> => stat(p).then(() => true, () => false)

describe('cli', function () {
  let dir: string
  const f = (name: string): string => join(dir, name)

  before(async () => { dir = await mkdtemp(join(tmpdir(), 'dadm-cli-')) })
  after(async () => { await rm(dir, { recursive: true, force: true }) })

  describe('dispatch', () => {
    it('prints usage and exits 2 without a command, for an unknown command and for an unknown flag', async () => {
      const none = await run([])
      expect(none.code).to.equal(2)
      expect(none.stderr).to.include('dadm-mesh ca init')
      expect((await run(['frobnicate'])).code).to.equal(2)
      const flag = await run(['keygen', '--out', f('x.key'), '--bogus'])
      expect(flag.code).to.equal(2)
      expect(flag.stderr).to.include('usage: dadm-mesh keygen')
      expect(await exists(f('x.key'))).to.equal(false)
    })

    it('help exits 0', async () => {
      const r = await run(['--help'])
      expect(r.code).to.equal(0)
      expect(r.stdout).to.include('cert verify')
    })
  })

  describe('keygen and csr', () => {
    it('keygen refuses to write without a passphrase (exit 1, NO_PASSPHRASE) and writes nothing', async () => {
      const r = await run(['keygen', '--out', f('nopass.key')], {})
      expect(r.code).to.equal(1)
      expect(r.stderr).to.include('NO_PASSPHRASE')
      expect(r.stderr).to.include('DADM_MESH_PASSPHRASE')
      expect(await exists(f('nopass.key'))).to.equal(false)
    })

    it('keygen writes an encrypted 0600 key and prints its PeerId; refuses to overwrite it', async () => {
      const r = await run(['keygen', '--out', f('node.key')])
      expect(r.code, r.stderr).to.equal(0)
      expect(r.stdout).to.match(/peer_id 12D3KooW\w+/)
      expect((await stat(f('node.key'))).mode & 0o777).to.equal(0o600)
      const again = await run(['keygen', '--out', f('node.key')])
      expect(again.code).to.equal(1)
      expect(again.stderr).to.include('KEY_EXISTS')
    })

    it('keygen takes the passphrase from --passphrase-file', async () => {
      await writeFile(f('pass.txt'), 'file pass\n', { mode: 0o600 })
      const r = await run(['keygen', '--out', f('p256.key'), '--alg', 'P-256', '--passphrase-file', f('pass.txt')], {})
      expect(r.code, r.stderr).to.equal(0)
      const wrong = await run(['csr', '--key', f('p256.key'), '--node-id', 'n', '--peer-id', '12D3KooWFwKmUTyzskXES5Xh2vr8fDtjnsQEvdTERD5NkDC7Bb13', '--out', f('p.csr')])
      expect(wrong.code).to.equal(1)
      expect(wrong.stderr).to.include('WRONG_PASSPHRASE')
    })

    it('csr writes a node CSR, deriving the PeerId from an Ed25519 key', async () => {
      const r = await run(['csr', '--key', f('node.key'), '--node-id', 'node-cli', '--out', f('node.csr')])
      expect(r.code, r.stderr).to.equal(0)
      expect(await readFile(f('node.csr'), 'utf8')).to.match(/^-----BEGIN CERTIFICATE REQUEST-----/)
    })

    it('csr with a P-256 key and no --peer-id is a usage error (exit 2)', async () => {
      const r = await run(['csr', '--key', f('p256.key'), '--node-id', 'n', '--out', f('p.csr'), '--passphrase-file', f('pass.txt')])
      expect(r.code).to.equal(2)
      expect(await exists(f('p.csr'))).to.equal(false)
    })
  })

  describe('ca and cert', () => {
    let serial: string

    it('ca init refuses without a passphrase, then creates the CA, then refuses to overwrite it', async () => {
      const none = await run(['ca', 'init', '--dir', f('ca')], {})
      expect(none.code).to.equal(1)
      expect(none.stderr).to.include('NO_PASSPHRASE')
      expect(await exists(f('ca/root.pem'))).to.equal(false)
      const r = await run(['ca', 'init', '--dir', f('ca')])
      expect(r.code, r.stderr).to.equal(0)
      expect(await exists(f('ca/root.pem'))).to.equal(true)
      expect(await exists(f('ca/ca-chain.pem'))).to.equal(true)
      const again = await run(['ca', 'init', '--dir', f('ca'), '--key-alg', 'Ed25519'])
      expect(again.code).to.equal(1)
      expect(again.stderr).to.include('CA_EXISTS')
    })

    it('ca issue prints the certificate PEM', async () => {
      const r = await run(['ca', 'issue', '--dir', f('ca'), '--csr', f('node.csr'), '--validity', '12h'])
      expect(r.code, r.stderr).to.equal(0)
      const cert = parseCertificate(pemToDer(r.stdout, 'CERTIFICATE'))
      expect(cert.subjectAltName?.uri[0]).to.equal('urn:dadm:node:node-cli')
      expect(cert.notAfter - cert.notBefore).to.equal(12 * 3600_000)
      serial = cert.serialHex
      await writeFile(f('node.pem'), r.stdout)
    })

    it('ca issue refuses a CSR for another --node-id (NODE_ID_MISMATCH), a DER file (DER_WHERE_PEM_EXPECTED) and a wrong passphrase', async () => {
      const mismatch = await run(['ca', 'issue', '--dir', f('ca'), '--csr', f('node.csr'), '--node-id', 'someone-else'])
      expect(mismatch.code).to.equal(1)
      expect(mismatch.stderr).to.include('NODE_ID_MISMATCH')
      expect(mismatch.stdout).to.equal('')
      await writeFile(f('node.der'), pemToDer(await readFile(f('node.csr'), 'utf8'), 'CERTIFICATE REQUEST'))
      const der = await run(['ca', 'issue', '--dir', f('ca'), '--csr', f('node.der')])
      expect(der.code).to.equal(1)
      expect(der.stderr).to.include('DER_WHERE_PEM_EXPECTED')
      const wrong = await run(['ca', 'issue', '--dir', f('ca'), '--csr', f('node.csr')], { DADM_MESH_PASSPHRASE: 'nope' })
      expect(wrong.code).to.equal(1)
      expect(wrong.stderr).to.include('WRONG_PASSPHRASE')
      const tooLong = await run(['ca', 'issue', '--dir', f('ca'), '--csr', f('node.csr'), '--validity', '8d'])
      expect(tooLong.code).to.equal(1)
      expect(tooLong.stderr).to.include('VALIDITY_OUT_OF_RANGE')
    })

    it('cert verify exits 0 for the issued certificate', async () => {
      const r = await run(['cert', 'verify', '--ca', f('ca/root.pem'), '--intermediate', f('ca/ca-chain.pem'), '--at', AT, f('node.pem')])
      expect(r.code, r.stderr).to.equal(0)
      expect(r.stdout).to.include('node_id node-cli')
    })

    it('cert verify exits 1 with EXPIRED after the certificate ends, and UNKNOWN_ISSUER against another root', async () => {
      const late = await run(['cert', 'verify', '--ca', f('ca/root.pem'), '--intermediate', f('ca/ca-chain.pem'), '--at', '2026-03-05T00:00:00Z', f('node.pem')])
      expect(late.code).to.equal(1)
      expect(late.stderr).to.match(/^EXPIRED/)
      const other = await run(['cert', 'verify', '--ca', f('ca/root.pem'), '--at', AT, f('node.pem')])
      expect(other.code).to.equal(1)
      expect(other.stderr).to.match(/^UNKNOWN_ISSUER/)
      const nodeId = await run(['cert', 'verify', '--ca', f('ca/root.pem'), '--intermediate', f('ca/ca-chain.pem'), '--at', AT, '--node-id', 'other', f('node.pem')])
      expect(nodeId.code).to.equal(1)
      expect(nodeId.stderr).to.match(/^NAME_MISMATCH/)
    })

    it('ca revoke then ca crl: cert verify with the CRL exits 1 with REVOKED', async () => {
      const r = await run(['ca', 'revoke', '--dir', f('ca'), '--serial', serial, '--reason', 'keyCompromise'])
      expect(r.code, r.stderr).to.equal(0)
      expect(r.stdout).to.include(serial)
      const crl = await run(['ca', 'crl', '--dir', f('ca')])
      expect(crl.code, crl.stderr).to.equal(0)
      expect(crl.stdout).to.match(/^-----BEGIN X509 CRL-----/)
      await writeFile(f('crl.pem'), crl.stdout)
      const v = await run(['cert', 'verify', '--ca', f('ca/root.pem'), '--intermediate', f('ca/ca-chain.pem'), '--crl', f('crl.pem'), '--at', AT, f('node.pem')])
      expect(v.code).to.equal(1)
      expect(v.stderr).to.match(/^REVOKED/)
    })

    it('ca revoke refuses a bad reason (exit 2) and an unknown serial (exit 1, UNKNOWN_SERIAL); revokes by node_id', async () => {
      expect((await run(['ca', 'revoke', '--dir', f('ca'), '--serial', serial, '--reason', 'bored'])).code).to.equal(2)
      const unknown = await run(['ca', 'revoke', '--dir', f('ca'), '--serial', 'abcdef'])
      expect(unknown.code).to.equal(1)
      expect(unknown.stderr).to.include('UNKNOWN_SERIAL')
      const node = await run(['ca', 'revoke', '--dir', f('ca'), '--node-id', 'node-cli'])
      expect(node.code, node.stderr).to.equal(0)
      expect(node.stdout).to.include('blocked')
      const blocked = await run(['ca', 'issue', '--dir', f('ca'), '--csr', f('node.csr')])
      expect(blocked.code).to.equal(1)
      expect(blocked.stderr).to.include('NODE_REVOKED')
    })

    it('cert verify exits 1 with the encoding code for a file that is not PEM', async () => {
      await writeFile(f('garbage.pem'), 'not a certificate\n')
      const r = await run(['cert', 'verify', '--ca', f('ca/root.pem'), f('garbage.pem')])
      expect(r.code).to.equal(1)
      expect(r.stderr).to.include('MALFORMED_PEM')
    })

    it('cert inspect prints the fields, or JSON with --json', async () => {
      const text = await run(['cert', 'inspect', f('node.pem')])
      expect(text.code, text.stderr).to.equal(0)
      expect(text.stdout).to.include('node-cli')
      expect(text.stdout).to.include('serverAuth')
      const json = await run(['cert', 'inspect', f('node.pem'), '--json'])
      expect(json.code).to.equal(0)
      const parsed = JSON.parse(json.stdout)
      expect(parsed).to.include({ node_id: 'node-cli', serial, ca: false, key: 'Ed25519' })
      expect(parsed.ext_key_usage).to.deep.equal(['clientAuth', 'serverAuth'])
    })
  })
})
