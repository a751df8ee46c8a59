import { execFile } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { childProcessEnv } from '../util/child-env.ts'
import { findSoftHsmModule } from './pkcs11-module.ts'

/**
 * A throw-away SoftHSM2 token for tests, benchmarks and demos: its own config and token
 * directory, so nothing touches /var/lib/softhsm. SoftHSM2 reads SOFTHSM2_CONF when the module
 * is initialized, so the caller sets `process.env.SOFTHSM2_CONF = token.conf` before opening a
 * store (and no other SoftHSM2 store may be open in the process at that moment). The PINs show
 * on softhsm2-util's command line: use it for throw-away tokens only.
 */

const run = promisify(execFile)

/** Deadline for softhsm2-util: it only writes a few files. */
const UTIL_TIMEOUT_MS = 30_000

export interface SoftHsmTokenInit {
  /** Directory for the config and the token files (created when missing). */
  dir: string
  label: string
  pin: string
  soPin: string
}

export interface SoftHsmToken {
  /** Path of the softhsm2.conf to put in SOFTHSM2_CONF. */
  conf: string
  /** The SoftHSM2 module to open. */
  module: string
  label: string
}

/** Why SoftHSM2 cannot be used here, or undefined when it can (module and softhsm2-util present). */
export async function softHsmMissing (): Promise<string | undefined> {
  if (findSoftHsmModule() == null) { return 'libsofthsm2.so not found under /usr/lib (Debian package softhsm2)' }
  try {
    await run('softhsm2-util', ['--version'], { timeout: UTIL_TIMEOUT_MS, env: childProcessEnv() })
  } catch {
    return 'softhsm2-util is not on the PATH (Debian package softhsm2)'
  }
  return undefined
}

/** Writes a private SoftHSM2 config in `dir` and initializes a token in its first free slot. */
export async function initSoftHsmToken (init: SoftHsmTokenInit): Promise<SoftHsmToken> {
  const module = findSoftHsmModule()
  if (module == null) { throw new Error('SoftHSM2 is not installed') }
  const tokens = join(init.dir, 'tokens')
  await mkdir(tokens, { recursive: true, mode: 0o700 })
  const conf = join(init.dir, 'softhsm2.conf')
  await writeFile(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`, { mode: 0o600 })
  await run('softhsm2-util', ['--init-token', '--free', '--label', init.label, '--pin', init.pin, '--so-pin', init.soPin], {
    timeout: UTIL_TIMEOUT_MS,
    env: childProcessEnv({ SOFTHSM2_CONF: conf })
  })
  return { conf, module, label: init.label }
}
