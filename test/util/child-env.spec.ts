import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { Tpm } from '../../src/attestation/tpm.ts'
import { childProcessEnv } from '../../src/util/child-env.ts'

/** Secrets a mesh process may hold in its environment, under our names and an operator's own. */
const SECRETS = {
  DADM_MESH_PASSPHRASE: 'secret-node-passphrase',
  DADM_MESH_ADMIN_KEY_PASSPHRASE: 'secret-admin-passphrase',
  DADM_MESH_PKCS11_PIN: 'secret-pin-1',
  MY_CA_TOKEN_PIN: 'secret-pin-2'
}

describe('child processes: no passphrase or PIN in their environment', function () {
  let base: string
  before(async () => { base = await mkdtemp(join(tmpdir(), 'dadm-child-env-')) })
  after(async () => { await rm(base, { recursive: true, force: true }) })

  it('childProcessEnv passes the allow-list (PATH, locale, TSS2_*, TPM2TOOLS_*) and drops everything else', () => {
    const env = childProcessEnv({ TPM2TOOLS_TCTI: 'swtpm:port=1' }, { PATH: '/bin', LC_ALL: 'C', TSS2_LOG: 'all+none', HOME: '/root', ...SECRETS, AWS_SECRET_ACCESS_KEY: 'x' })
    expect(env).to.deep.equal({ PATH: '/bin', LC_ALL: 'C', TSS2_LOG: 'all+none', HOME: '/root', TPM2TOOLS_TCTI: 'swtpm:port=1' })
  })

  it('tpm2-tools run without DADM_MESH_PASSPHRASE, the admin key passphrase or any PIN in their environment', async () => {
    // A stand-in tpm2_pcrread, first on the PATH, records the environment it was given.
    const bin = join(base, 'bin')
    const seen = join(base, 'env.txt')
    await mkdir(bin)
    for (const tool of ['tpm2_pcrread', 'tpm2_flushcontext']) {
      await writeFile(join(bin, tool), `#!/bin/sh\nenv >> '${seen}'\nexit 1\n`)
      await chmod(join(bin, tool), 0o755)
    }
    const saved = { ...process.env }
    Object.assign(process.env, SECRETS, { PATH: `${bin}:${process.env.PATH ?? ''}` })
    let err: any
    try {
      await new Tpm({ tcti: 'swtpm:host=127.0.0.1,port=1', dir: join(base, 'tpm') }).readPcrs([0])
    } catch (e) {
      err = e
    } finally {
      for (const k of Object.keys(process.env)) { if (!(k in saved)) { Reflect.deleteProperty(process.env, k) } }
      Object.assign(process.env, saved)
    }
    expect(err).to.include({ name: 'TpmError', code: 'COMMAND_FAILED' })
    expect((await stat(seen)).size).to.be.greaterThan(0)
    const text = await readFile(seen, 'utf8')
    expect(text).to.include('TPM2TOOLS_TCTI=swtpm:host=127.0.0.1,port=1')
    for (const [name, value] of Object.entries(SECRETS)) {
      expect(text, name).to.not.include(value)
      expect(text, name).to.not.include(`${name}=`)
    }
  })
})
