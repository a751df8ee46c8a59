import { writeFile, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { parseMs } from '../../../src/cli/commands/node-run.ts'
import { UsageError } from '../../../src/cli/io.ts'
import { parseBootstrapList, readBootstrapFile } from '../../../src/daemon/runtime/bootstrap-list.ts'

const PEER = '12D3KooWMyDzyf3usdTHi5E3TLoKW3MTWYxu5zeRvh9feYo1r3RV'

/** The bootstrap-list file air-gapped sites carry on USB, and the CLI's duration flag. */
describe('bootstrap-list file', function () {
  it('reads one multiaddr with /p2p/ per line, skipping blanks and comments', () => {
    const text = `# site A\n/ip4/10.0.0.1/udp/4001/quic-v1/p2p/${PEER}\n\n  /dns4/boot.example/tcp/4001/p2p/${PEER}  # fallback\n`
    expect(parseBootstrapList(text)).to.deep.equal([`/ip4/10.0.0.1/udp/4001/quic-v1/p2p/${PEER}`, `/dns4/boot.example/tcp/4001/p2p/${PEER}`])
  })

  it('refuses a line without /p2p/, a line that is no multiaddr, and a file too large (BOOTSTRAP_FILE_INVALID)', async () => {
    for (const bad of ['/ip4/10.0.0.1/udp/4001/quic-v1', 'boot.example:4001']) {
      expect(() => parseBootstrapList(bad)).to.throw().with.property('code', 'BOOTSTRAP_FILE_INVALID')
    }
    const dir = await mkdtemp(join(tmpdir(), 'dadm-boot-'))
    try {
      await writeFile(join(dir, 'big'), '#'.repeat(300 * 1024))
      await expect(readBootstrapFile(join(dir, 'big'))).to.eventually.be.rejected.with.property('code', 'BOOTSTRAP_FILE_INVALID')
      await expect(readBootstrapFile(join(dir, 'missing'))).to.eventually.be.rejected.with.property('name', 'NodeRuntimeError')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('--crl-interval takes ms, s, m, h, and bare seconds', () => {
    expect([parseMs('500ms', 'f'), parseMs('2s', 'f'), parseMs('5m', 'f'), parseMs('1h', 'f'), parseMs('60', 'f')]).to.deep.equal([500, 2000, 300_000, 3_600_000, 60_000])
    expect(() => parseMs('0s', 'f')).to.throw(UsageError)
    expect(() => parseMs('1.5s', 'f')).to.throw(UsageError)
  })
})
