import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileAtomic } from '../../util/atomic-file.ts'
import type { CrlManager } from './crl-manager.ts'
import type { ChainVerifier } from '../../pki/chain-verifier.ts'

/**
 * `NODEDIR/crl.json`: the CRLs the running node holds (number, next update, where from), rewritten
 * on every install. `node status` reads it without the passphrase and without the node's LevelDB
 * (which the node holds) or its admin API (which refuses a revoked node's own client certificate).
 */
export interface CrlStatusFile {
  version: 1
  crls: Array<{ issuer: string, crl_number: string | null, this_update: string, next_update: string | null }>
  /** The last CRL installed: when, and by which path (fetch, gossip, push, local). */
  last_installed?: { crl_number: string, source: string, at: string }
}

const MAX_CRL_STATUS_BYTES = 64 * 1024

export function crlStatusPath (dir: string): string {
  return join(dir, 'crl.json')
}

function snapshot (verifier: Pick<ChainVerifier, 'crls'>, last?: CrlStatusFile['last_installed']): CrlStatusFile {
  return {
    version: 1,
    crls: verifier.crls.map(c => ({
      issuer: c.issuer.key,
      crl_number: c.crlNumber?.toString() ?? null,
      this_update: new Date(c.thisUpdate).toISOString(),
      next_update: c.nextUpdate != null ? new Date(c.nextUpdate).toISOString() : null
    })),
    ...(last != null ? { last_installed: last } : {})
  }
}

/** Writes crl.json now and after each CRL the manager installs; returns the remover of its hook. */
export async function keepCrlStatusFile (dir: string, verifier: Pick<ChainVerifier, 'crls'>, crl: Pick<CrlManager, 'onCrl'>, now: () => number, onError: (err: unknown) => void): Promise<() => void> {
  const path = crlStatusPath(dir)
  await writeFileAtomic(path, JSON.stringify(snapshot(verifier), null, 2) + '\n', 0o644).catch(onError)
  return crl.onCrl(async (e) => {
    const last = { crl_number: e.crlNumber.toString(), source: e.source, at: new Date(now()).toISOString() }
    await writeFileAtomic(path, JSON.stringify(snapshot(verifier, last), null, 2) + '\n', 0o644).catch(onError)
  })
}

/** crl.json, or undefined when absent or unreadable (a node that never ran). */
export async function readCrlStatusFile (dir: string): Promise<CrlStatusFile | undefined> {
  try {
    const bytes = await readFile(crlStatusPath(dir))
    if (bytes.length > MAX_CRL_STATUS_BYTES) { return undefined }
    const f = JSON.parse(bytes.toString('utf8')) as CrlStatusFile
    return f?.version === 1 && Array.isArray(f.crls) ? f : undefined
  } catch {
    return undefined
  }
}
