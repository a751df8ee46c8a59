import { createNotice, decodeNotice, NOTICE_DEFAULT_TTL_MS as DEFAULT_TTL_MS, NOTICE_MAX_TTL_MS as MAX_TTL_MS } from '../../protocols/rotate-now/index.ts'
import { parseCertificate } from '../pki/certificate.ts'
import { pemToDerAll } from '../util/pem.ts'
import { EnrollmentError } from './errors.ts'
import type { MeshCa } from '../ca/index.ts'

/**
 * The CA side of mesh notices (protocols/rotate-now): numbered from the CA store, signed by the
 * issuing CA (rotate-now) or the root (trust bundle), and each kept until it expires so the
 * service can hand every one to polling nodes (a later notice never hides an earlier one). Delivery on the mesh is the caller's (a mesh node
 * pushes them; see src/daemon/lifecycle).
 */

export interface RotateNowRequest {
  /** node_ids that must rotate; absent or empty: every node. */
  targets?: string[]
  /** @default DEFAULT_TTL_MS (24 h) */
  ttlMs?: number
}

export interface TrustBundleRequest {
  /** The roots nodes trust from now on, PEM (a CA rotation: old and new, then only the new). */
  rootsPem: string
  /** Issuing CA certificates under those roots, PEM, so nodes can check CRLs and chains. */
  casPem?: string
  /** @default DEFAULT_TTL_MS */
  ttlMs?: number
}

function lifetime (ttlMs: number | undefined): number {
  const ttl = ttlMs ?? DEFAULT_TTL_MS
  if (!Number.isSafeInteger(ttl) || ttl <= 0 || ttl > MAX_TTL_MS) { throw new EnrollmentError('INVALID_REQUEST') }
  return ttl
}

/** A "rotate now" notice for `targets` (or all), signed by the issuing CA. */
export async function createRotateNowNotice (ca: MeshCa, req: RotateNowRequest, now: Date): Promise<Uint8Array> {
  const ttl = lifetime(req.ttlMs)
  const t = now.getTime()
  const seq = await ca.nextNoticeSequence(now)
  const targets = req.targets != null && req.targets.length > 0 ? [...new Set(req.targets)] : undefined
  const bytes = await createNotice({ kind: 'rotate-now', seq, iat: t, exp: t + ttl, ...(targets != null ? { targets } : {}) }, async data => ca.signNotice(data, 'issuing'))
  await ca.store.saveNotice('rotate-now', Buffer.from(bytes).toString('base64'), t, seq, t + ttl)
  return bytes
}

/**
 * A trust bundle signed by this CA's root: nodes that trust this root adopt `rootsPem` as their
 * trust anchors. Adding a root: the old root signs [old, new]; retiring one: the new root signs
 * [new] (nodes trust it by then).
 */
export async function createTrustBundleNotice (ca: MeshCa, req: TrustBundleRequest, now: Date): Promise<Uint8Array> {
  const ttl = lifetime(req.ttlMs)
  let roots: Uint8Array[]
  let cas: Uint8Array[]
  try {
    roots = pemToDerAll(req.rootsPem, 'CERTIFICATE')
    cas = req.casPem != null && req.casPem.trim() !== '' ? pemToDerAll(req.casPem, 'CERTIFICATE') : []
    // A chain PEM ends with its root: keep only the CAs below the roots.
    const rootPrints = new Set(roots.map(r => parseCertificate(r).fingerprint))
    cas = cas.filter(c => !rootPrints.has(parseCertificate(c).fingerprint))
  } catch (err) {
    throw new EnrollmentError('INVALID_REQUEST', { cause: err })
  }
  if (roots.length === 0) { throw new EnrollmentError('INVALID_REQUEST') }
  const t = now.getTime()
  const seq = await ca.nextNoticeSequence(now)
  const bytes = await createNotice({ kind: 'trust-bundle', seq, iat: t, exp: t + ttl, roots, ...(cas.length > 0 ? { cas } : {}) }, async data => ca.signNotice(data, 'root'))
  await ca.store.saveNotice('trust-bundle', Buffer.from(bytes).toString('base64'), t, seq, t + ttl)
  return bytes
}

/**
 * The notices polling nodes get (`GET /v1/notices`, base64): every unexpired one, oldest sequence
 * first, so a node applies trust bundles in order. Expired ones are left out (the next save drops them).
 */
export async function unexpiredNotices (ca: MeshCa, now: Date): Promise<string[]> {
  const t = now.getTime()
  const kept: Array<{ seq: number, notice: string }> = []
  for (const n of await ca.store.listNotices()) {
    let exp = n.exp
    let seq = 0
    try {
      const body = decodeNotice(new Uint8Array(Buffer.from(n.notice, 'base64'))).notice
      exp ??= body.exp
      seq = body.seq
    } catch {
      continue
    }
    if (exp > t) { kept.push({ seq, notice: n.notice }) }
  }
  return kept.sort((a, b) => a.seq - b.seq).map(n => n.notice)
}
