import { normalizeIP } from '@fastify/rate-limit'
import { IssuanceError } from '../ca/errors.ts'
import type { RateLimit } from './types.ts'

/**
 * The three families of routes, each with buckets of its own, so that a flood against one family
 * spends only that family's budget.
 *
 * `enrollment`: every route a stranger may call (enroll, the two nonce routes, renew, anything
 * unknown), per source address and shared by all.
 *
 * `crl`: the signed documents members poll (`GET /v1/crl`, `GET /v1/notices`), per source
 * address and shared by all, so an enrollment flood leaves revocation reaching every node.
 *
 * `authenticated`: the mutual-TLS routes (rotate, revoke, and any route whose hook checks a
 * client certificate, whatever its path), a coarse cap per source address before authentication
 * and a bucket per proved client identity after it. There is no bucket shared by all here: a
 * shared one would let a few members lock every other member out.
 */
export type BucketName = 'enrollment' | 'crl' | 'authenticated'

/** Every limit of the enrollment service, per bucket. */
export interface RateLimits {
  enrollment: { perAddress: RateLimit, global: RateLimit }
  crl: { perAddress: RateLimit, global: RateLimit }
  authenticated: { perAddress: RateLimit, perIdentity: RateLimit }
  /**
   * Most keys each limiter remembers (least recently used forgotten first). It bounds the
   * limiters' own memory whatever the number of sources: an entry is a key and a counter, about
   * 200 bytes, so seven limiters at the default stay near 15 MB.
   */
  cacheEntries: number
}

/** Any part of `RateLimits`, as `EnrollmentServerConfig.rateLimits` and ca.json give it. */
export interface RateLimitsConfig {
  enrollment?: { perAddress?: RateLimit, global?: RateLimit }
  crl?: { perAddress?: RateLimit, global?: RateLimit }
  authenticated?: { perAddress?: RateLimit, perIdentity?: RateLimit }
  cacheEntries?: number
}

const MINUTE = 60_000

/**
 * Defaults, each with where its number comes from.
 *
 * Enrollment per address 120/min: a rack of 100 nodes behind one NAT address enrolls in one
 * minute (each also fetches a nonce when attestation is on; 120 leaves room for retries).
 * Enrollment global 1200/min (20/s): about a tenth of what one core issues (bench/enroll.ts), so
 * an enrollment flood cannot starve the CA's other work.
 *
 * CRL per address 600/min: a node polls two CRLs a minute (crl-poller `intervalMs` 60 s, the
 * issuing and the root scope) and the notices every 5 minutes, 2.2 requests a minute, so 600
 * serves about 270 nodes behind one NAT address. CRL global 30000/min (500/s): the same 2.2 a
 * minute for a mesh of about 13,000 nodes; the answer comes from memory (no signing, no store
 * read), so this costs little of one core.
 *
 * Authenticated per address 600/min: never met by honest use (a node rotates a few times a day);
 * it only bounds the chain checks an unauthenticated client can make us run. Authenticated per
 * identity 60/min: one a second per node_id or admin; a node rotates once per certificate
 * lifetime plus retries, and bulk revocation goes through `ca revoke` on the admin socket, which
 * no network client reaches.
 *
 * Cache 10,000 keys per limiter: more sources than an honest mesh uses in one window.
 */
export const RATE_LIMIT_DEFAULTS: RateLimits = {
  enrollment: { perAddress: { max: 120, windowMs: MINUTE }, global: { max: 1200, windowMs: MINUTE } },
  crl: { perAddress: { max: 600, windowMs: MINUTE }, global: { max: 30_000, windowMs: MINUTE } },
  authenticated: { perAddress: { max: 600, windowMs: MINUTE }, perIdentity: { max: 60, windowMs: MINUTE } },
  cacheEntries: 10_000
}

/** Routes by `METHOD url` (the route's pattern); anything not listed is `enrollment`. */
const ROUTE_BUCKETS: Record<string, BucketName> = {
  'GET /v1/crl': 'crl',
  'GET /v1/notices': 'crl',
  'POST /v1/rotate': 'authenticated',
  'POST /v1/revoke': 'authenticated'
}

/**
 * The bucket of a request, from its method and route pattern (undefined for no route: a 404).
 * `POST /v1/renew` stays with enrollment before its proof is checked: anyone may post one, and
 * the proof's signature check is the cost the per-address bucket bounds. Its per-identity bucket
 * comes after the proof (see renew-identity.ts).
 */
export function bucketOf (method: string, routeUrl: string | undefined): BucketName {
  if (routeUrl == null) { return 'enrollment' }
  // Fastify answers HEAD for every GET route: same bucket.
  return ROUTE_BUCKETS[`${method === 'HEAD' ? 'GET' : method} ${routeUrl}`] ?? 'enrollment'
}

/**
 * The per-address key: an IPv4 address as is, an IPv4-mapped IPv6 address as its IPv4 form, an
 * IPv6 address as its /64 (one end site's LAN gets one bucket, not 2^64 of them).
 */
export function addressKey (ip: string): string {
  return normalizeIP(ip, 64)
}

/** Largest `max` and window accepted from configuration (a day). */
const MAX_WINDOW_MS = 24 * 3600_000
const MAX_CACHE_ENTRIES = 10_000_000

function badConfig (field: string, why: string): never {
  throw new IssuanceError('BAD_CA_CONFIG', `ca.json: enrollment.rate_limits.${field} ${why}`)
}

function readLimit (raw: unknown, field: string): RateLimit | undefined {
  if (raw == null) { return undefined }
  if (typeof raw !== 'object' || Array.isArray(raw)) { return badConfig(field, 'must be { "max": N, "window_seconds": S }') }
  const { max, window_seconds: windowSeconds, ...rest } = raw as Record<string, unknown>
  if (Object.keys(rest).length > 0) { return badConfig(`${field}.${Object.keys(rest)[0]}`, 'is not a known key') }
  if (typeof max !== 'number' || !Number.isSafeInteger(max) || max < 1) { return badConfig(`${field}.max`, 'must be a positive integer') }
  if (typeof windowSeconds !== 'number' || !Number.isSafeInteger(windowSeconds) || windowSeconds < 1 || windowSeconds * 1000 > MAX_WINDOW_MS) {
    return badConfig(`${field}.window_seconds`, 'must be an integer from 1 to 86400')
  }
  return { max, windowMs: windowSeconds * 1000 }
}

function readSection<K extends string> (raw: unknown, field: string, keys: Record<K, string>): Partial<Record<K, RateLimit>> | undefined {
  if (raw == null) { return undefined }
  if (typeof raw !== 'object' || Array.isArray(raw)) { return badConfig(field, 'must be an object') }
  const obj = raw as Record<string, unknown>
  const known = new Set(Object.values<string>(keys))
  const unknown = Object.keys(obj).find(k => !known.has(k))
  if (unknown != null) { badConfig(`${field}.${unknown}`, 'is not a known key') }
  const out: Partial<Record<K, RateLimit>> = {}
  for (const [key, jsonKey] of Object.entries<string>(keys)) {
    const limit = readLimit(obj[jsonKey], `${field}.${jsonKey}`)
    if (limit != null) { out[key as K] = limit }
  }
  return out
}

/**
 * Reads `enrollment.rate_limits` from ca.json's parsed object (every key optional):
 * `{ enrollment: { per_address, global }, crl: { per_address, global },
 * authenticated: { per_address, per_identity }, cache_entries }`, each limit
 * `{ max, window_seconds }`. Throws BAD_CA_CONFIG naming the first bad field.
 */
export function rateLimitsFromCaConfig (config: object): RateLimitsConfig {
  const raw = (config as { enrollment?: { rate_limits?: unknown } }).enrollment?.rate_limits
  if (raw == null) { return {} }
  if (typeof raw !== 'object' || Array.isArray(raw)) { return badConfig('', 'must be an object') }
  const r = raw as Record<string, unknown>
  const unknown = Object.keys(r).find(k => !['enrollment', 'crl', 'authenticated', 'cache_entries'].includes(k))
  if (unknown != null) { badConfig(unknown, 'is not a known key') }
  const out: RateLimitsConfig = {}
  const enrollment = readSection(r.enrollment, 'enrollment', { perAddress: 'per_address', global: 'global' })
  if (enrollment != null) { out.enrollment = enrollment }
  const crl = readSection(r.crl, 'crl', { perAddress: 'per_address', global: 'global' })
  if (crl != null) { out.crl = crl }
  const authenticated = readSection(r.authenticated, 'authenticated', { perAddress: 'per_address', perIdentity: 'per_identity' })
  if (authenticated != null) { out.authenticated = authenticated }
  if (r.cache_entries != null) {
    const n = r.cache_entries
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1 || n > MAX_CACHE_ENTRIES) { badConfig('cache_entries', `must be an integer from 1 to ${MAX_CACHE_ENTRIES}`) }
    out.cacheEntries = n as number
  }
  return out
}

/**
 * The limits in force: `rateLimits` field by field, else the coarse single pair
 * `perAddressLimit` / `globalLimit` (which then sets the per-address and shared limits of the
 * enrollment and CRL buckets and the per-address cap of the authenticated one, each bucket still
 * counting on its own), else the defaults.
 */
export function resolveRateLimits (config: { rateLimits?: RateLimitsConfig, perAddressLimit?: RateLimit, globalLimit?: RateLimit }): RateLimits {
  const r = config.rateLimits ?? {}
  const d = RATE_LIMIT_DEFAULTS
  const addr = config.perAddressLimit
  const glob = config.globalLimit
  return {
    enrollment: {
      perAddress: r.enrollment?.perAddress ?? addr ?? d.enrollment.perAddress,
      global: r.enrollment?.global ?? glob ?? d.enrollment.global
    },
    crl: {
      perAddress: r.crl?.perAddress ?? addr ?? d.crl.perAddress,
      global: r.crl?.global ?? glob ?? d.crl.global
    },
    authenticated: {
      perAddress: r.authenticated?.perAddress ?? addr ?? d.authenticated.perAddress,
      perIdentity: r.authenticated?.perIdentity ?? d.authenticated.perIdentity
    },
    cacheEntries: r.cacheEntries ?? d.cacheEntries
  }
}
