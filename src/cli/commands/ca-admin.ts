import { openCaStoreOnly } from '../../ca/ca-store-open.ts'
import { AdminSocketClient } from '../../enrollment/admin-client.ts'
import { adminSocketPath } from '../../enrollment/admin-socket.ts'
import { CaService } from '../../enrollment/ca-service.ts'
import { MeshError } from '../../errors.ts'
import { KeyStoreError } from '../../identity/errors.ts'
import { requirePassphrase, resolvePassphrase } from '../../identity/passphrase.ts'
import type { CaAdminOps } from '../../enrollment/types.ts'
import type { CliIo } from '../io.ts'

/** Raised when the CA store is held by another process that does not answer on the admin socket. */
export class CaBusyError extends MeshError<'CA_BUSY'> {
  static name = 'CaBusyError'
}

/** True for LevelDB's "another process holds the lock" failure (classic-level LEVEL_LOCKED). */
export function isStoreLocked (err: unknown): boolean {
  const e = err as { code?: unknown, cause?: { code?: unknown } } | undefined
  return e?.code === 'LEVEL_LOCKED' || (e?.code === 'LEVEL_DATABASE_NOT_OPEN' && e.cause?.code === 'LEVEL_LOCKED')
}

/** The message for a locked store: what is going on and what to do. */
export function busyError (dir: string, cause: unknown): CaBusyError {
  return new CaBusyError('CA_BUSY', `the CA store ${dir}/db is held by another process, and no \`dadm-mesh ca serve\` answers on ${adminSocketPath(dir)}. ` +
    'If `ca serve` runs for this directory as another user or from an older version, run this command as that user or restart the service; ' +
    'otherwise stop the other process that has the CA open and retry.', { cause })
}

/**
 * The operator operations for the CA in `dir`: through the running `ca serve` when one answers
 * on `DIR/admin.sock` (LevelDB admits one process, and the service holds it), else on the store
 * opened here. A store locked by a process that does not answer is CA_BUSY with what to do.
 */
export async function openAdminOps (dir: string, passphraseFile: string | undefined, io: CliIo): Promise<{ ops: CaAdminOps, via: 'service' | 'store', close(): Promise<void> }> {
  const client = await AdminSocketClient.connect(dir)
  if (client != null) {
    await refuseWrongPassphrase(client, io, passphraseFile)
    return { ops: client, via: 'service', close: async () => {} }
  }
  const passphrase = await requirePassphrase({ env: io.env, passphraseFile })
  let service: CaService
  try {
    service = await CaService.open({ dir, passphrase })
  } catch (err) {
    if (isStoreLocked(err)) {
      // The service may have come up while we were decrypting keys: ask once more.
      const late = await AdminSocketClient.connect(dir)
      if (late != null) { return { ops: late, via: 'service', close: async () => {} } }
      throw busyError(dir, err)
    }
    throw err
  }
  return { ops: service, via: 'store', close: async () => { await service.close() } }
}

/**
 * Through the service the command needs no passphrase (the socket's 0600 mode is the gate), but
 * one given (--passphrase-file, DADM_MESH_PASSPHRASE) that is not the CA's is an operator error
 * the command must not ignore: WRONG_PASSPHRASE naming where it came from, before anything is done.
 */
export async function refuseWrongPassphrase (client: AdminSocketClient, io: CliIo, passphraseFile: string | undefined): Promise<void> {
  const given = await resolvePassphrase({ env: io.env, passphraseFile })
  if (given == null) { return }
  if (await client.checkPassphrase(given) === false) {
    throw new KeyStoreError('WRONG_PASSPHRASE', `the passphrase from ${passphraseFile != null ? `--passphrase-file ${passphraseFile}` : 'DADM_MESH_PASSPHRASE'} is not the one the running \`ca serve\` opened this CA with; nothing was done`)
  }
}

/** Runs `fn` with the operator operations open, closing them however `fn` ends. */
export async function withAdminOps<T> (dir: string, passphraseFile: string | undefined, io: CliIo, fn: (ops: CaAdminOps, via: 'service' | 'store') => Promise<T>): Promise<T> {
  const { ops, via, close } = await openAdminOps(dir, passphraseFile, io)
  try {
    return await fn(ops, via)
  } finally {
    await close()
  }
}

/**
 * Runs `read` on the CA store opened without its keys: the read-only commands need no passphrase.
 * A store the running service holds is CA_BUSY (those commands ask the service first).
 */
export async function withCaStoreOnly<T> (dir: string, read: (opened: Awaited<ReturnType<typeof openCaStoreOnly>>) => Promise<T>): Promise<T> {
  let opened
  try {
    opened = await openCaStoreOnly(dir)
  } catch (err) {
    if (isStoreLocked(err)) { throw busyError(dir, err) }
    throw err
  }
  try {
    return await read(opened)
  } finally {
    await opened.close()
  }
}
