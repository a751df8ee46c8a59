import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { MeshCa } from '../../src/ca/index.ts'
import { main } from '../../src/cli/main.ts'
import { startAdminSocket } from '../../src/enrollment/admin-socket.ts'
import { CaService } from '../../src/enrollment/ca-service.ts'
import { MIN_SCRYPT_LOG_N } from '../../src/identity/key-file.ts'
import type { CaEvent } from '../../src/enrollment/ca-events.ts'

const PASS = 'cli unblock passphrase'
const NOW = new Date()

interface Run { code: number, stdout: string, stderr: string }

async function run (argv: string[]): Promise<Run> {
  let stdout = ''
  let stderr = ''
  const code = await main(argv, {
    stdout: { write: (s: string) => { stdout += s } },
    stderr: { write: (s: string) => { stderr += s } },
    env: { DADM_MESH_PASSPHRASE: PASS },
    now: () => NOW
  })
  return { code, stdout, stderr }
}

/** Opens the CA (while no command holds it) and reads what a test needs. */
async function withCa<T> (dir: string, fn: (ca: MeshCa) => Promise<T>): Promise<T> {
  const ca = await MeshCa.open({ dir, passphrase: PASS })
  try {
    return await fn(ca)
  } finally {
    await ca.close()
  }
}

/**
 * `ca revoke --node-id` refuses a node_id the CA never issued to (UNKNOWN_NODE_ID, exit 1) unless
 * `--block-unknown`; `ca unblock --node-id` lifts a block (NODE_NOT_BLOCKED when there is none).
 * Both work on the CA directory and, while `ca serve` holds it, through its admin socket.
 */
describe('cli: ca revoke --block-unknown and ca unblock', () => {
  let base: string
  let dir: string

  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'dadm-unblock-'))
    dir = join(base, 'ca')
    const ca = await MeshCa.init({ dir, passphrase: PASS, now: NOW, scryptLogN: MIN_SCRYPT_LOG_N })
    await ca.close()
  })
  after(async () => { await rm(base, { recursive: true, force: true }) })

  it('ca revoke --node-id for a never-issued node_id exits 1 with UNKNOWN_NODE_ID and blocks nothing', async () => {
    const r = await run(['ca', 'revoke', '--dir', dir, '--node-id', 'ghost-cli'])
    expect(r.code).to.equal(1)
    expect(r.stderr).to.match(/^error: UNKNOWN_NODE_ID: /)
    expect(r.stderr).to.not.match(/\n\s+at /)
    expect(r.stdout).to.equal('')
    expect(await withCa(dir, async ca => ({ blocked: await ca.isNodeRevoked('ghost-cli'), epoch: await ca.store.revocationEpoch() }))).to.deep.equal({ blocked: false, epoch: 0 })
  })

  it('with --block-unknown it blocks; ca unblock lifts the block, a second unblock exits 1 NODE_NOT_BLOCKED', async () => {
    const r = await run(['ca', 'revoke', '--dir', dir, '--node-id', 'ghost-cli', '--block-unknown'])
    expect(r.code, r.stderr).to.equal(0)
    expect(r.stdout).to.include('node_id ghost-cli is blocked from new certificates')
    expect(await withCa(dir, async ca => ca.isNodeRevoked('ghost-cli'))).to.equal(true)
    const audit = await withCa(dir, async ca => (await ca.store.auditLog()).filter(e => e.action === 'revoke-node').at(-1))
    expect(audit?.fields).to.deep.include({ node_id: 'ghost-cli', by: 'operator-cli' })

    const u = await run(['ca', 'unblock', '--dir', dir, '--node-id', 'ghost-cli'])
    expect(u.code, u.stderr).to.equal(0)
    expect(u.stdout).to.include('node_id ghost-cli is no longer blocked')
    expect(await withCa(dir, async ca => ca.isNodeRevoked('ghost-cli'))).to.equal(false)

    const again = await run(['ca', 'unblock', '--dir', dir, '--node-id', 'ghost-cli'])
    expect(again.code).to.equal(1)
    expect(again.stderr).to.match(/^error: NODE_NOT_BLOCKED: /)
  })

  it('usage errors exit 2 and name the flag', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['ca', 'unblock', '--dir', dir], /--node-id is required/],
      [['ca', 'unblock', '--node-id', 'x'], /--dir is required/],
      [['ca', 'unblock', '--dir', dir, '--node-id', 'not a node id'], /--node-id "not a node id" is not a valid node_id/],
      [['ca', 'unblock', '--dir', dir, '--node-id', 'x', '--bogus'], /bogus/],
      [['ca', 'revoke', '--dir', dir, '--serial', 'ab', '--block-unknown'], /--block-unknown goes with --node-id/]
    ]
    for (const [argv, message] of cases) {
      const r = await run(argv)
      expect(r.code, argv.join(' ')).to.equal(2)
      expect(r.stderr).to.match(message)
      expect(r.stderr).to.include('usage: dadm-mesh ca')
    }
  })

  it('through a running service (admin socket): the same rule, logged as local-admin-socket', async () => {
    const events: CaEvent[] = []
    const service = await CaService.open({ dir, passphrase: PASS, events: { info: (e) => { events.push(e) } } })
    const socket = await startAdminSocket({ dir, ops: service, now: () => NOW })
    try {
      const refused = await run(['ca', 'revoke', '--dir', dir, '--node-id', 'ghost-sock'])
      expect(refused.code).to.equal(1)
      expect(refused.stderr).to.match(/^error: UNKNOWN_NODE_ID: /)
      expect(await service.ca.isNodeRevoked('ghost-sock')).to.equal(false)
      expect(events).to.deep.equal([])

      const blocked = await run(['ca', 'revoke', '--dir', dir, '--node-id', 'ghost-sock', '--block-unknown', '--reason', 'privilegeWithdrawn'])
      expect(blocked.code, blocked.stderr).to.equal(0)
      expect(await service.ca.isNodeRevoked('ghost-sock')).to.equal(true)
      expect(events).to.deep.equal([{ event: 'revoked', serials: [], node_id: 'ghost-sock', reason: 'privilegeWithdrawn', by: 'local-admin-socket' }])

      const lifted = await run(['ca', 'unblock', '--dir', dir, '--node-id', 'ghost-sock'])
      expect(lifted.code, lifted.stderr).to.equal(0)
      expect(lifted.stdout).to.include('no longer blocked')
      expect(await service.ca.isNodeRevoked('ghost-sock')).to.equal(false)
      expect(events.at(-1)).to.deep.equal({ event: 'node-unblocked', node_id: 'ghost-sock', by: 'local-admin-socket' })

      const none = await run(['ca', 'unblock', '--dir', dir, '--node-id', 'ghost-sock'])
      expect(none.code).to.equal(1)
      expect(none.stderr).to.match(/^error: NODE_NOT_BLOCKED: /)
    } finally {
      await socket.close()
      await service.close()
    }
  })
})
