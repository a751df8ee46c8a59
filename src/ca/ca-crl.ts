import { reasonCode } from '../pki/revocation-reasons.ts'
import { keyIdentifier } from '../pki/x509-build.ts'
import { derToPem } from '../util/pem.ts'
import { signCrl } from './crl-encode.ts'
import { IssuanceError } from './errors.ts'
import type { CaState } from './ca-state.ts'
import type { CrlRecord, RevocationRecord } from '../store/ca-store.ts'

/** A CRL as built and stored. */
export interface CrlInfo {
  der: Uint8Array
  pem: string
  crlNumber: number
  /** Milliseconds since the epoch. */
  thisUpdate: number
  nextUpdate: number
}

/**
 * `issuing`: the CRL of the CA that signs leaves (intermediate, or root without one).
 * `root`: the root's CRL over revoked intermediates (only with an intermediate), which
 * `openssl verify -crl_check_all` and strict verifiers need for the middle link.
 */
export type CrlScope = 'issuing' | 'root'

export function crlInfo (rec: CrlRecord): CrlInfo {
  const der = new Uint8Array(Buffer.from(rec.der, 'base64'))
  return { der, pem: derToPem(der, 'X509 CRL'), crlNumber: rec.crlNumber, thisUpdate: rec.thisUpdate, nextUpdate: rec.nextUpdate }
}

function belongsTo (scope: CrlScope, state: CaState, r: RevocationRecord): boolean {
  if (scope === 'root' && state.config.intermediate) { return r.profile === 'intermediate' }
  return r.profile === 'node' || r.profile === 'admin' || r.profile === 'server'
}

/**
 * Builds, signs and stores a new CRL for `scope` with the next CRL number. Entries are the
 * revocations of certificates that scope's CA issued and that have not expired at thisUpdate
 * (RFC 5280 §3.3 lets a CRL drop expired certificates; it keeps the CRL small).
 */
export async function buildCrl (state: CaState, scope: CrlScope, now: Date): Promise<CrlInfo> {
  const useRoot = scope === 'root'
  const issuer = useRoot ? state.root : state.issuing
  const key = useRoot ? state.rootKey : state.issuingKey
  const t = Math.floor(now.getTime() / 1000) * 1000
  if (t < issuer.notBefore || t > issuer.notAfter) {
    throw new IssuanceError('ISSUER_NOT_VALID', 'the CRL issuer is not valid at this time')
  }
  const lifetime = (useRoot && state.config.intermediate ? state.config.root_crl_validity_seconds : state.config.crl_validity_seconds) * 1000
  const nextUpdate = Math.min(t + lifetime, issuer.notAfter)
  const epoch = await state.store.revocationEpoch()
  const entries = (await state.store.revocations())
    .filter(r => belongsTo(scope, state, r) && r.notAfter >= t)
    .sort((a, b) => a.time - b.time || (a.serialHex < b.serialHex ? -1 : 1))
    .map(r => ({ serialHex: r.serialHex, revocationDate: r.time, reason: reasonCode(r.reason) }))
  // The number is reserved (and persisted) before signing, so a crash never reuses it.
  const crlNumber = await state.store.nextCrlNumber(scope)
  const der = await signCrl({
    issuerName: issuer.subject.der,
    issuerKeyId: keyIdentifier(issuer.spki),
    crlNumber,
    thisUpdate: t,
    nextUpdate,
    entries,
    key
  })
  const rec: CrlRecord = { crlNumber, thisUpdate: t, nextUpdate, epoch, der: Buffer.from(der).toString('base64') }
  await state.store.saveCrl(scope, rec, now.getTime())
  return crlInfo(rec)
}

/**
 * The latest CRL for `scope`, rebuilt when revocations changed since it was built, when it is
 * past half its life (so nodes always fetch one with time left), or when `now` is before it.
 */
export async function currentCrl (state: CaState, scope: CrlScope, now: Date): Promise<CrlInfo> {
  return await storedCrlIfFresh(state.store, scope, now) ?? buildCrl(state, scope, now)
}

/**
 * The stored CRL when it is still the one to serve (no revocation since, within the first half
 * of its life), else undefined: a new one must be signed. Needs the store only, not the key, so
 * `ca crl` answers without the passphrase when nothing changed.
 */
export async function storedCrlIfFresh (store: Pick<CaState['store'], 'latestCrl' | 'revocationEpoch'>, scope: CrlScope, now: Date): Promise<CrlInfo | undefined> {
  const latest = await store.latestCrl(scope)
  const t = now.getTime()
  if (latest != null && latest.epoch === await store.revocationEpoch() &&
    t >= latest.thisUpdate && t < latest.thisUpdate + (latest.nextUpdate - latest.thisUpdate) / 2) {
    return crlInfo(latest)
  }
  return undefined
}
