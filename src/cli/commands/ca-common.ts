import { MeshCa } from '../../ca/index.ts'
import { resolvePassphrase } from '../../identity/passphrase.ts'
import { busyError, isStoreLocked } from './ca-admin.ts'
import type { CliIo } from '../io.ts'

/**
 * Opens the CA in `dir` with the passphrase from `--passphrase-file` or the environment (a
 * software CA refuses to open without one; a PKCS#11 CA reads its PIN as ca.json says).
 */
export async function openCa (dir: string, passphraseFile: string | undefined, io: CliIo): Promise<MeshCa> {
  const passphrase = await resolvePassphrase({ env: io.env, passphraseFile })
  try {
    return await MeshCa.open({ dir, passphrase, pkcs11: { env: io.env } })
  } catch (err) {
    // `ca serve` (or another command) holds the LevelDB: say so, and what to do.
    if (isStoreLocked(err)) { throw busyError(dir, err) }
    throw err
  }
}

/** Runs `fn` with the CA open, closing it however `fn` ends. */
export async function withCa<T> (dir: string, passphraseFile: string | undefined, io: CliIo, fn: (ca: MeshCa) => Promise<T>): Promise<T> {
  const ca = await openCa(dir, passphraseFile, io)
  try {
    return await fn(ca)
  } finally {
    await ca.close()
  }
}
