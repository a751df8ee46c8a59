import { randomBytes } from 'node:crypto'
import { chmod, copyFile, lstat, mkdir, readFile, rename, rm } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { parseCertificate } from '../pki/certificate.ts'
import { parseCrl } from '../pki/crl.ts'
import { isRevocationReason } from '../pki/revocation-reasons.ts'
import { bytesEqual, verifySignature } from '../pki/signature.ts'
import { bumpRevocationEpoch, clearBackupMark, dropAllTokens, getBackupMark, raiseCrlNumber } from '../store/ca-meta-marks.ts'
import { CaStore } from '../store/ca-store.ts'
import { openStore } from '../store/mesh-store.ts'
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../util/file-mode.ts'
import { pemToDer, pemToDerAll } from '../util/pem.ts'
import { CaBackupError } from './backup-errors.ts'
import { isAbsentOrEmptyDir, sha256File } from './backup-files.ts'
import { readManifest } from './backup-manifest.ts'
import { caPaths } from './ca-files.ts'
import type { BackupManifest } from './backup-manifest.ts'
import type { Certificate } from '../pki/certificate.ts'
import type { Crl } from '../pki/crl.ts'
import type { CertProfile, RevocationRecord } from '../store/ca-store.ts'

/**
 * `ca restore`: a CA directory from a `ca backup`, made so that it cannot fork the mesh's
 * revocation state. A backup is older than the CA it copied: the lost CA may have signed CRLs
 * with higher numbers and revoked certificates the backup never saw. Served as it is, the copy
 * would sign CRL numbers the mesh already holds under other contents (nodes keep the higher one
 * and ignore the copy's revocations until its numbers catch up), and its next CRL would leave
 * out the later revocations, which un-revokes those certificates on every node that installs it.
 *
 * So the restore takes the newest CRLs the mesh holds (`--seen-crl`, from any node or the
 * published CRL URL), checks they are this CA's, carries every certificate they revoke into the
 * restored store, and raises the CRL numbers above both them and the restore time in seconds (a
 * CA counting up by one from any earlier restore cannot have reached it: that needs a CRL per
 * second). Without a seen CRL it proceeds only when told to, and says what may be lost.
 * Tokens from the backup are dropped (one spent after the backup would count as unspent again).
 * The directory is assembled next to the target and renamed into place at the end, so a failed
 * restore leaves nothing that looks like a CA.
 */

/** A seen CRL as the CLI read it (at most MAX_CRL_BYTES). */
export interface SeenCrlInput {
  /** Named in errors and in the result. */
  path: string
  bytes: Uint8Array
}

export interface RestoreOptions {
  from: string
  dir: string
  seenCrls: SeenCrlInput[]
  /** Restore without any seen CRL: later revocations may be lost. */
  withoutSeenCrl: boolean
  now: Date
}

export interface RestoreResult {
  dir: string
  backupCreatedAt: string
  seen: Array<{ path: string, scope: 'issuing' | 'root', crlNumber: string, revoked: number }>
  /** Revocations carried over from the seen CRLs that the backup did not hold. */
  importedRevocations: string[]
  crlNumbers: { issuing: number, root: number }
  tokensDropped: number
}

interface SeenCrl { path: string, crl: Crl, scope: 'issuing' | 'root', signer: Certificate }

export async function restoreCa (opts: RestoreOptions): Promise<RestoreResult> {
  if (opts.seenCrls.length === 0 && !opts.withoutSeenCrl) { throw new TypeError('restoreCa needs a seen CRL or withoutSeenCrl') }
  const from = resolve(opts.from)
  const dir = resolve(opts.dir)
  const manifest = await readManifest(from)
  if (!(await isAbsentOrEmptyDir(dir))) { throw new CaBackupError('RESTORE_TARGET_NOT_EMPTY', `--dir ${dir} exists and is not an empty directory`) }
  await verifyFiles(from, manifest)
  const { root, issuing, intermediate } = await readCaCerts(from)
  const seen = opts.seenCrls.map(s => judgeSeenCrl(s, issuing, root))

  const staging = join(dirname(dir), `.${basename(dir)}.restoring-${randomBytes(6).toString('hex')}`)
  await mkdir(dirname(dir), { recursive: true })
  try {
    await mkdir(staging, { mode: PRIVATE_DIR_MODE })
    await chmod(staging, PRIVATE_DIR_MODE)
    for (const f of manifest.files) {
      const to = join(staging, f.path)
      await mkdir(dirname(to), { recursive: true, mode: PRIVATE_DIR_MODE })
      await copyFile(join(from, f.path), to)
      await chmod(to, PRIVATE_FILE_MODE)
    }
    const result = await reconcileStore(staging, manifest, seen, { intermediate, root, issuing }, opts.now)
    await rm(dir, { recursive: true, force: true })
    await rename(staging, dir)
    return { dir, ...result }
  } catch (err) {
    await rm(staging, { recursive: true, force: true })
    throw err
  }
}

/** Every file the manifest lists, with its size and hash; the store's files among them. */
async function verifyFiles (from: string, manifest: BackupManifest): Promise<void> {
  const listed = new Set(manifest.files.map(f => f.path))
  for (const need of ['ca.json', 'root.pem', 'ca-chain.pem', 'db/CURRENT']) {
    if (!listed.has(need)) { throw new CaBackupError('BACKUP_CORRUPT', `the backup in ${from} lacks ${need}`) }
  }
  for (const f of manifest.files) {
    const path = join(from, f.path)
    const st = await lstat(path).catch(() => undefined)
    if (st?.isFile() !== true || st.size !== f.size || await sha256File(path) !== f.sha256) {
      throw new CaBackupError('BACKUP_CORRUPT', `${path} is missing or differs from the backup's manifest`)
    }
  }
}

async function readCaCerts (from: string): Promise<{ root: Certificate, issuing: Certificate, intermediate: boolean }> {
  const paths = caPaths(from)
  try {
    const root = parseCertificate(pemToDer(await readFile(paths.root, 'utf8'), 'CERTIFICATE'))
    const chain = pemToDerAll(await readFile(paths.chain, 'utf8'), 'CERTIFICATE').map(parseCertificate)
    return { root, issuing: chain[0], intermediate: chain.length > 1 }
  } catch (err) {
    throw new CaBackupError('BACKUP_CORRUPT', `the certificates in ${from} do not parse: ${(err as Error).message}`, { cause: err })
  }
}

/** The seen CRL must be a CRL with a number, signed by the backup's issuing CA or its root. */
function judgeSeenCrl (input: SeenCrlInput, issuing: Certificate, root: Certificate): SeenCrl {
  let crl: Crl
  try {
    const text = Buffer.from(input.bytes).toString('latin1')
    crl = parseCrl(text.includes('-----BEGIN X509 CRL-----') ? pemToDer(text, 'X509 CRL') : input.bytes)
  } catch (err) {
    throw new CaBackupError('SEEN_CRL_UNREADABLE', `--seen-crl ${input.path} is not a CRL: ${(err as Error).message}`, { cause: err })
  }
  if (crl.crlNumber == null) { throw new CaBackupError('SEEN_CRL_UNREADABLE', `--seen-crl ${input.path} has no CRL number`) }
  const candidates: Array<{ cert: Certificate, scope: 'issuing' | 'root' }> = [{ cert: issuing, scope: 'issuing' }]
  if (!bytesEqual(issuing.der, root.der)) { candidates.push({ cert: root, scope: 'root' }) }
  for (const c of candidates) {
    if (signedBy(crl, c.cert)) { return { path: input.path, crl, scope: c.scope, signer: c.cert } }
  }
  throw new CaBackupError('SEEN_CRL_FOREIGN', `--seen-crl ${input.path} is not signed by this backup's CA (issuer ${crl.issuer.text})`)
}

/** True when `cert`'s subject issued `crl` and its key verifies it; an unusable key or algorithm is false. */
function signedBy (crl: Crl, cert: Certificate): boolean {
  try {
    return cert.subject.key === crl.issuer.key && !crl.signatureMalformed && verifySignature(crl.signatureAlgorithm, cert.keyObject, crl.tbs, crl.signature)
  } catch {
    return false
  }
}

async function reconcileStore (dir: string, manifest: BackupManifest, seen: SeenCrl[], ca: { intermediate: boolean, root: Certificate, issuing: Certificate }, now: Date): Promise<Omit<RestoreResult, 'dir'>> {
  const meshStore = await openStore(caPaths(dir).db)
  try {
    const mark = await getBackupMark(meshStore)
    if (mark == null) { throw new CaBackupError('BACKUP_CORRUPT', 'the backup\'s store carries no backup mark: not made by `ca backup`') }
    const store = await CaStore.open(meshStore)
    const t = now.getTime()
    const imported: string[] = []
    for (const s of seen) {
      const records: RevocationRecord[] = []
      for (const entry of s.crl.revoked.values()) {
        const known = await store.getCert(entry.serialHex)
        const profile: CertProfile = known?.profile ?? (s.scope === 'root' && ca.intermediate ? 'intermediate' : 'node')
        records.push({
          serialHex: entry.serialHex,
          reason: entry.reason != null && isRevocationReason(entry.reason) ? entry.reason : 'unspecified',
          time: entry.revocationDate,
          profile,
          // No certificate outlives its issuer: an unknown serial stays listed until then.
          notAfter: known?.notAfter ?? s.signer.notAfter,
          ...(known?.nodeId != null ? { nodeId: known.nodeId } : {})
        })
      }
      const fresh = await store.revoke(records, t, { action: 'restore-revocations', fields: { crl_number: s.crl.crlNumber?.toString() ?? null, scope: s.scope } })
      imported.push(...fresh.map(r => r.serialHex))
    }
    const timeFloor = Math.floor(t / 1000)
    const highest = (scope: 'issuing' | 'root'): number => seen.filter(s => s.scope === scope).reduce((m, s) => Math.max(m, Number(s.crl.crlNumber)), 0)
    const crlNumbers = {
      issuing: await raiseCrlNumber(meshStore, 'issuing', Math.max(manifest.high_water.crlNumberIssuing, highest('issuing'), timeFloor)),
      root: await raiseCrlNumber(meshStore, 'root', Math.max(manifest.high_water.crlNumberRoot, highest('root'), timeFloor))
    }
    // The stored CRLs are the backup's: the next request builds one under the raised number.
    await bumpRevocationEpoch(meshStore)
    const tokensDropped = await dropAllTokens(meshStore)
    await clearBackupMark(meshStore)
    await store.appendAudit(t, 'restore', {
      backup_created_at: manifest.created_at,
      source: manifest.source,
      seen_crls: seen.map(s => `${s.scope}:${s.crl.crlNumber?.toString() ?? ''}`).join(','),
      imported_revocations: imported.length,
      crl_number_issuing: crlNumbers.issuing,
      crl_number_root: crlNumbers.root,
      tokens_dropped: tokensDropped
    })
    return {
      backupCreatedAt: manifest.created_at,
      seen: seen.map(s => ({ path: s.path, scope: s.scope, crlNumber: s.crl.crlNumber?.toString() ?? '', revoked: s.crl.revoked.size })),
      importedRevocations: imported,
      crlNumbers,
      tokensDropped
    }
  } finally {
    await meshStore.close()
  }
}
