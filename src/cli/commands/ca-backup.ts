import { open } from 'node:fs/promises'
import { resolve } from 'node:path'
import { CaBackupError } from '../../ca/backup-errors.ts'
import { backupCa } from '../../ca/backup.ts'
import { openCaStoreOnly } from '../../ca/ca-store-open.ts'
import { restoreCa } from '../../ca/restore.ts'
import { AdminSocketClient } from '../../enrollment/admin-client.ts'
import { EnrollmentError } from '../../enrollment/errors.ts'
import { MAX_CRL_BYTES } from '../../pki/crl.ts'
import { EXIT, nowOf, parseCommand, reportError, UsageError } from '../io.ts'
import { CA_BACKUP } from '../specs/ca-backup.ts'
import { CA_RESTORE } from '../specs/ca-restore.ts'
import { busyError, isStoreLocked } from './ca-admin.ts'
import type { BackupResult } from '../../ca/backup.ts'
import type { SeenCrlInput } from '../../ca/restore.ts'
import type { CliIo } from '../io.ts'

/**
 * `ca backup`: through the running service when one answers (it holds the store and copies from
 * one snapshot), else on the store opened here. No passphrase: the key files are copied encrypted.
 */
export async function caBackup (args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommand(args, CA_BACKUP)
  const dir = values.dir as string
  // The service resolves nothing against its own working directory.
  const out = resolve(values.out as string)
  try {
    let result: BackupResult
    const client = await AdminSocketClient.connect(dir)
    if (client != null) {
      result = await client.backup({ out }).catch((err: unknown) => { throw namedOut(err, out) })
    } else {
      let opened
      try {
        opened = await openCaStoreOnly(dir)
      } catch (err) {
        throw isStoreLocked(err) ? busyError(dir, err) : err
      }
      try {
        result = await backupCa({ dir, store: opened.meshStore, out, now: nowOf(io) })
      } finally {
        await opened.close()
      }
    }
    const hw = result.manifest.high_water
    if (values.json === true) {
      io.stdout.write(JSON.stringify({ out: result.out, via: client != null ? 'service' : 'store', manifest: result.manifest }, null, 2) + '\n')
    } else {
      io.stdout.write(`${result.out}\n`)
      io.stderr.write(`backup of ${resolve(dir)} ${client != null ? 'made by the running service' : 'made from the store'}: ${result.manifest.files.length} files, ` +
        `${hw.certificates} certificates, ${hw.revocations} revocations, CRL numbers issuing ${hw.crlNumberIssuing} root ${hw.crlNumberRoot}\n` +
        `restore with: dadm-mesh ca restore --from ${result.out} --dir NEWDIR --seen-crl FILE\n`)
    }
    return EXIT.OK
  } catch (err) {
    return reportError(io, err)
  }
}

/** The service answers by catalogue code only; the operator is told which directory it means. */
function namedOut (err: unknown, out: string): unknown {
  if (err instanceof EnrollmentError && (SERVICE_BACKUP_CODES as readonly string[]).includes(err.code)) {
    return new CaBackupError(err.code as typeof SERVICE_BACKUP_CODES[number], `--out ${out}: ${err.message}`, { cause: err })
  }
  return err
}

const SERVICE_BACKUP_CODES = ['BACKUP_TARGET_NOT_EMPTY', 'BACKUP_TARGET_UNWRITABLE', 'BACKUP_TOO_LARGE', 'UNSUPPORTED_FILE'] as const

/** `ca restore`: a new CA directory from a backup, reconciled with the CRLs the mesh holds. */
export async function caRestore (args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommand(args, CA_RESTORE)
  const seenPaths = (values['seen-crl'] ?? []) as string[]
  const without = values['without-seen-crl'] === true
  if (seenPaths.length === 0 && !without) { throw new UsageError('give --seen-crl FILE (the newest CRL the mesh holds: from a node or the CRL URL) or --without-seen-crl') }
  if (seenPaths.length > 0 && without) { throw new UsageError('--seen-crl and --without-seen-crl exclude each other') }
  if (seenPaths.length > 8) { throw new UsageError('at most 8 --seen-crl files') }
  try {
    const seenCrls: SeenCrlInput[] = []
    for (const path of seenPaths) { seenCrls.push({ path, bytes: await readSeenCrl(path) }) }
    const r = await restoreCa({ from: values.from as string, dir: values.dir as string, seenCrls, withoutSeenCrl: without, now: nowOf(io) })
    if (values.json === true) {
      io.stdout.write(JSON.stringify(r, null, 2) + '\n')
    } else {
      io.stdout.write(`${r.dir}\n`)
      const seen = r.seen.map(s => `${s.scope} CRL number ${s.crlNumber} (${s.path})`).join(', ')
      io.stderr.write(`restored the backup of ${r.backupCreatedAt} into ${r.dir}\n` +
        (r.seen.length > 0 ? `checked against ${seen}: ${r.importedRevocations.length} revocation(s) the backup lacked are carried over\n` : '') +
        `next CRL numbers: issuing above ${r.crlNumbers.issuing}, root above ${r.crlNumbers.root}\n` +
        `${r.tokensDropped} enrollment token(s) from the backup are void: mint new ones\n` +
        'certificates issued after the backup are unknown here: enroll those nodes again (ca token --node-id ID --replace)\n')
      if (without) {
        io.stderr.write(`warning: no CRL of the mesh was checked: revocations made after ${r.backupCreatedAt} are not in this CA; revoke those certificates again before \`ca serve\`\n`)
      }
    }
    return EXIT.OK
  } catch (err) {
    return reportError(io, err)
  }
}

/** Reads one --seen-crl file, refusing one larger than any CRL the mesh parses. */
async function readSeenCrl (path: string): Promise<Uint8Array> {
  let fh
  try {
    fh = await open(path, 'r')
  } catch (err: any) {
    throw new CaBackupError('SEEN_CRL_UNREADABLE', `--seen-crl ${path}: ${String(err.code ?? err.message)}`, { cause: err })
  }
  try {
    // PEM is a third larger than the DER it carries.
    const limit = Math.ceil(MAX_CRL_BYTES * 4 / 3) + 4096
    if ((await fh.stat()).size > limit) { throw new CaBackupError('SEEN_CRL_UNREADABLE', `--seen-crl ${path} is larger than ${limit} bytes`) }
    return new Uint8Array(await fh.readFile())
  } finally {
    await fh.close()
  }
}
