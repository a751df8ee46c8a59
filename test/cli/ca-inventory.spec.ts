import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { MeshCa } from '../../src/ca/index.ts'
import { main } from '../../src/cli/main.ts'
import { startAdminSocket } from '../../src/enrollment/admin-socket.ts'
import { CaService } from '../../src/enrollment/ca-service.ts'
import { MIN_SCRYPT_LOG_N } from '../../src/identity/key-file.ts'
import { ed25519Key, nodeSan, rawCsr, somePeerId } from '../ca/csr-fixtures.ts'

const PASS = 'inventory passphrase'

interface Run { code: number, stdout: string, stderr: string }

/** No passphrase in the environment: the inventory reads the store only. */
async function run (argv: string[], now?: Date): Promise<Run> {
  let stdout = ''
  let stderr = ''
  const code = await main(argv, { stdout: { write: (s: string) => { stdout += s } }, stderr: { write: (s: string) => { stderr += s } }, env: {}, ...(now != null ? { now: () => now } : {}) })
  return { code, stdout, stderr }
}

/**
 * `ca list-certs [--node-id] [--json]` and `ca list-nodes [--json]`: what the CA issued and what
 * became of it, read without the passphrase from the store, or from a running service over its
 * admin socket.
 */
describe('cli: ca list-certs and ca list-nodes', function () {
  this.timeout(60_000)
  let base: string
  let dir: string
  const serials: Record<string, string> = {}
  let notAfter = 0

  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'dadm-inventory-'))
    dir = join(base, 'ca')
    const ca = await MeshCa.init({ dir, passphrase: PASS, now: new Date(Date.now() - 60_000), scryptLogN: MIN_SCRYPT_LOG_N })
    try {
      for (const id of ['alpha', 'bravo', 'charlie']) {
        const issued = await ca.issue({ csr: rawCsr({ ...ed25519Key(), extensions: [nodeSan(id, somePeerId())] }), now: new Date() })
        serials[id] = issued.serialHex
        notAfter = issued.notAfter
      }
      await ca.revoke({ serialHex: serials.bravo, reason: 'keyCompromise', now: new Date() })
      await ca.revokeNodeId({ nodeId: 'charlie', reason: 'privilegeWithdrawn', now: new Date() })
      await ca.revokeNodeId({ nodeId: 'ghost', now: new Date(), blockUnknown: true })
    } finally {
      await ca.close()
    }
  })
  after(async () => { await rm(base, { recursive: true, force: true }) })

  it('list-certs --json: every certificate with its status and reason, no passphrase needed', async () => {
    const r = await run(['ca', 'list-certs', '--dir', dir, '--json'])
    expect(r.code, r.stderr).to.equal(0)
    const l = JSON.parse(r.stdout)
    expect(l.truncated).to.equal(false)
    const by = new Map(l.certificates.map((c: any) => [c.serial, c]))
    expect(by.get(serials.alpha)).to.include({ status: 'valid', profile: 'node', node_id: 'alpha' })
    expect(by.get(serials.bravo)).to.include({ status: 'revoked', reason: 'keyCompromise' })
    expect(by.get(serials.charlie)).to.include({ status: 'revoked', reason: 'privilegeWithdrawn' })
    expect(l.certificates.map((c: any) => c.profile)).to.include.members(['root', 'intermediate'])
  })

  it('list-certs --node-id lists that node only; the text table names serial and status; past notAfter it says expired', async () => {
    const one = await run(['ca', 'list-certs', '--dir', dir, '--node-id', 'alpha', '--json'])
    expect(JSON.parse(one.stdout).certificates.map((c: any) => c.serial)).to.deep.equal([serials.alpha])
    const text = await run(['ca', 'list-certs', '--dir', dir])
    expect(text.stdout).to.match(/^SERIAL\s+STATUS\s+PROFILE/)
    expect(text.stdout).to.match(new RegExp(`${serials.bravo}\\s+revoked\\(keyCompromise\\)`))
    const later = await run(['ca', 'list-certs', '--dir', dir, '--node-id', 'alpha', '--json'], new Date(notAfter + 1000))
    expect(JSON.parse(later.stdout).certificates[0].status).to.equal('expired')
  })

  it('list-nodes: active, revoked and blocked node_ids, a block without certificates among them', async () => {
    const r = await run(['ca', 'list-nodes', '--dir', dir, '--json'])
    expect(r.code, r.stderr).to.equal(0)
    const nodes = new Map(JSON.parse(r.stdout).nodes.map((n: any) => [n.node_id, n]))
    expect(nodes.get('alpha')).to.include({ status: 'active', certificates: 1, serial: serials.alpha })
    expect(nodes.get('bravo')).to.include({ status: 'revoked' })
    expect(nodes.get('charlie')).to.include({ status: 'blocked', reason: 'privilegeWithdrawn' })
    expect(nodes.get('ghost')).to.include({ status: 'blocked', certificates: 0, serial: null })
    const text = await run(['ca', 'list-nodes', '--dir', dir])
    expect(text.stdout).to.match(/^NODE_ID\s+STATUS/)
    expect(text.stdout).to.include('4 node(s)')
  })

  it('while the service holds the store, both come from it over the admin socket, the same', async () => {
    const direct = JSON.parse((await run(['ca', 'list-nodes', '--dir', dir, '--json'])).stdout)
    const service = await CaService.open({ dir, passphrase: PASS })
    const admin = await startAdminSocket({ dir, ops: service })
    try {
      const nodes = await run(['ca', 'list-nodes', '--dir', dir, '--json'])
      expect(nodes.code, nodes.stderr).to.equal(0)
      expect(JSON.parse(nodes.stdout)).to.deep.equal(direct)
      const certs = await run(['ca', 'list-certs', '--dir', dir, '--node-id', 'bravo', '--json'])
      expect(JSON.parse(certs.stdout).certificates[0]).to.include({ serial: serials.bravo, status: 'revoked' })
    } finally {
      await admin.close()
      await service.close()
    }
  })

  it('refuses a directory without a CA (NOT_A_CA, exit 1) and a missing --dir (exit 2)', async () => {
    const r = await run(['ca', 'list-certs', '--dir', base])
    expect(r.code).to.equal(1)
    expect(r.stderr).to.match(/^error: NOT_A_CA: /)
    const usage = await run(['ca', 'list-nodes'])
    expect(usage.code).to.equal(2)
    expect(usage.stderr).to.include('--dir')
  })
})
