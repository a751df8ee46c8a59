import { readFile, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { parseCertificate } from '../../pki/certificate.ts'
import { writeFileAtomic } from '../../util/atomic-file.ts'
import { readNodeFile } from '../enroll/node-files.ts'
import { NodeRuntimeError } from './errors.ts'
import type { CrlManager } from './crl-manager.ts'
import type { Certificate } from '../../pki/certificate.ts'
import type { ChainVerifier } from '../../pki/chain-verifier.ts'

/**
 * A node that finds its own certificate (or a CA above it) on a CA-signed CRL it installed. No peer
 * will talk to it any more, so running on only wastes the operator's time: the node records why in
 * `NODEDIR/revoked.json` (what `node status` and `node peers` read, since its own admin API now
 * refuses its revoked client certificate) and then exits, or stays up isolated when configured.
 */
export interface SelfRevoked {
  version: 1
  node_id: string
  /** Serial (hex) of the node certificate this record is about: a re-enrolled NODEDIR has another. */
  serial: string
  /** The revoked certificate: the node's own, or a CA certificate above it. */
  revoked_serial: string
  revoked_subject: 'node' | 'ca'
  reason: string
  crl_number: string | null
  revoked_at: string
  detected_at: string
}

/** What a revoked node does: stop with a non-zero exit, or stay up with no peers. */
export type OnRevoked = 'exit' | 'isolate'
export const ON_REVOKED_VALUES: readonly OnRevoked[] = ['exit', 'isolate']

const MAX_REVOKED_FILE_BYTES = 16 * 1024

export function revokedFilePath (dir: string): string {
  return join(dir, 'revoked.json')
}

/**
 * The revocation record that applies to the certificate with `serial` (node.json's), or undefined:
 * a record about an older certificate (the node enrolled again) does not count. Unreadable records count as absent.
 */
export async function readSelfRevoked (dir: string, serial: string): Promise<SelfRevoked | undefined> {
  let bytes: Buffer
  try {
    bytes = await readFile(revokedFilePath(dir))
  } catch {
    return undefined
  }
  if (bytes.length > MAX_REVOKED_FILE_BYTES) { return undefined }
  try {
    const r = JSON.parse(bytes.toString('utf8')) as SelfRevoked
    return r?.version === 1 && typeof r.serial === 'string' && r.serial === serial ? r : undefined
  } catch {
    return undefined
  }
}

/** Finds which certificate of `chain` (leaf first) an installed CRL revoked, and that CRL's entry. */
export function findSelfRevocation (verifier: Pick<ChainVerifier, 'isRevoked' | 'crls'>, chain: Certificate[]): Omit<SelfRevoked, 'version' | 'node_id' | 'serial' | 'detected_at'> | undefined {
  for (const [i, cert] of chain.entries()) {
    if (cert.selfIssued || !verifier.isRevoked(cert)) { continue }
    const crl = verifier.crls.find(c => c.issuer.key === cert.issuer.key && c.revoked.has(cert.serialHex))
    const entry = crl?.revoked.get(cert.serialHex)
    return {
      revoked_serial: cert.serialHex,
      revoked_subject: i === 0 ? 'node' : 'ca',
      reason: entry?.reason ?? 'unspecified',
      crl_number: crl?.crlNumber?.toString() ?? null,
      revoked_at: entry != null ? new Date(entry.revocationDate).toISOString() : new Date(0).toISOString()
    }
  }
  return undefined
}

export interface SelfRevocationWatchInit {
  dir: string
  nodeId: string
  verifier: Pick<ChainVerifier, 'isRevoked' | 'crls'>
  crl: Pick<CrlManager, 'onCrl'>
  /** The chain in force (leaf first, DER): read at each check, since a rotation replaces it. */
  chain(): Uint8Array[]
  now(): number
  /** What the process does about it (the watch only reports it). @default 'exit' */
  policy?: OnRevoked
  /** Called once, after revoked.json is written. */
  onRevoked(record: SelfRevoked): void
}

/**
 * Watches every installed CRL for the node's own chain. `check()` looks at the CRLs held now
 * (those persisted before a restart); after that each new CRL is checked as it is installed.
 * Fires once per process: one clear error, not one per CRL or per peer that refuses us.
 */
export class SelfRevocationWatch {
  private readonly init: SelfRevocationWatchInit
  private fired: SelfRevoked | undefined
  private readonly remove: () => void

  constructor (init: SelfRevocationWatchInit) {
    this.init = init
    this.remove = init.crl.onCrl(async () => { await this.check() })
  }

  /** What the process does once revoked: stop, or stay up isolated. */
  get onRevoked (): OnRevoked {
    return this.init.policy ?? 'exit'
  }

  /** The record once the node found itself revoked. */
  get revoked (): SelfRevoked | undefined {
    return this.fired
  }

  async check (): Promise<SelfRevoked | undefined> {
    if (this.fired != null) { return this.fired }
    const chain = this.init.chain().map(der => parseCertificate(der))
    const found = findSelfRevocation(this.init.verifier, chain)
    if (found == null || chain[0] == null) { return undefined }
    const record: SelfRevoked = { version: 1, node_id: this.init.nodeId, serial: chain[0].serialHex, ...found, detected_at: new Date(this.init.now()).toISOString() }
    this.fired = record
    await writeFileAtomic(revokedFilePath(this.init.dir), JSON.stringify(record, null, 2) + '\n', 0o644)
    this.init.onRevoked(record)
    return record
  }

  stop (): void {
    this.remove()
  }
}

/** Removes a revocation record (a new enrollment replaced the certificate it was about). */
export async function clearSelfRevoked (dir: string): Promise<void> {
  await unlink(revokedFilePath(dir)).catch(() => {})
}

/**
 * For commands that talk to the running node's admin API as the node itself: once a CRL revoked
 * the node, that API refuses its client certificate (CLIENT_CERT_INVALID says nothing useful), so
 * say what is going on instead. NODE_REVOKED with the reason and CRL number.
 */
export async function refuseIfRevoked (dir: string): Promise<void> {
  const file = await readNodeFile(dir).catch(() => undefined)
  if (file == null) { return }
  const r = await readSelfRevoked(dir, file.serial)
  if (r == null) { return }
  const what = r.revoked_subject === 'node' ? `certificate ${r.revoked_serial}` : `CA certificate ${r.revoked_serial} above it`
  throw new NodeRuntimeError('NODE_REVOKED', `node ${r.node_id} is revoked (${what}, reason ${r.reason}, CRL number ${r.crl_number ?? 'unknown'}, learnt ${r.detected_at}): its admin API and its peers refuse it; enroll again with a new token`)
}
