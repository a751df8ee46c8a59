import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { MeshError } from '../errors.ts'
import { normalizeRoles } from '../pki/roles-extension.ts'
import { SYNC } from './mesh-store.ts'
import type { MeshStore, Sublevel } from './mesh-store.ts'

/** Bounded codes for token refusals. Unknown, used and expired all share TOKEN_REJECTED on purpose. */
export type TokenErrorCode = 'TOKEN_REJECTED' | 'TOKEN_NODE_MISMATCH' | 'INVALID_TOKEN_FORMAT' | 'INVALID_TOKEN_PARAMS'

/** Why a token was refused, for the CA's log only: the HTTP answer is TOKEN_REJECTED for all three. */
export type TokenRefusal = 'unknown' | 'used' | 'expired'

/** Raised when a token is refused or cannot be created. */
export class TokenError extends MeshError<TokenErrorCode> {
  static name = 'TokenError'
  /** With TOKEN_REJECTED: which of the three it was. */
  readonly refusal?: TokenRefusal

  constructor (code: TokenErrorCode, message: string, options?: ErrorOptions & { refusal?: TokenRefusal }) {
    super(code, message, options)
    if (options?.refusal != null) { this.refusal = options.refusal }
  }
}

/** Token text: a version prefix (so scanners and people can tell what it is) and 32 random bytes. */
export const TOKEN_PREFIX = 'dmt1_'
/** 32 bytes = 256 bits of entropy, beyond any online or offline guessing; base64url without padding is 43 characters. */
export const TOKEN_RANDOM_BYTES = 32
export const TOKEN_PATTERN = '^dmt1_[A-Za-z0-9_-]{43}$'
const TOKEN_RE = new RegExp(TOKEN_PATTERN)

/** Largest TTL and use count accepted: a token is a short-lived bootstrap secret, not a credential. */
export const MAX_TOKEN_TTL_MS = 30 * 24 * 3600_000
export const MAX_TOKEN_USES = 10_000

/** What the store keeps per token, under the SHA-256 of the token text; never the token itself. */
export interface TokenRecord {
  /** The node_id the token is bound to, if any. */
  nodeId?: string
  /**
   * Minted as a replacement for `nodeId` (which it then always has): an enrollment with it
   * supersedes the node_id's live certificates instead of being refused NODE_ID_TAKEN.
   */
  replace?: boolean
  /** The roles the CA puts in the certificate an enrollment with this token gets (sorted; absent when none). */
  roles?: string[]
  createdAt: number
  expiresAt: number
  usesLeft: number
  /** Times it was consumed, for the audit and for tests. */
  used: number
}

/** A successful consumption. `refund` gives the use back if the issuance it paid for failed. */
export interface TokenGrant {
  /** First 16 hex digits of the token hash: safe to log, enough to find the record. */
  tokenId: string
  nodeId?: string
  refund(): Promise<void>
}

/** True when `s` has the shape of a token (checked before any store lookup). */
export function isTokenFormat (s: unknown): s is string {
  return typeof s === 'string' && TOKEN_RE.test(s)
}

/** SHA-256 of the token text, hex: the only form in which a token is stored. */
export function hashToken (token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex')
}

/** The name a token goes by in logs and audit: the first 16 hex digits of its hash (no secret). */
export function tokenIdOf (token: string): string {
  return hashToken(token).slice(0, 16)
}

/** A fresh token: the prefix and 256 bits from the system CSPRNG. */
export function generateToken (): string {
  return TOKEN_PREFIX + randomBytes(TOKEN_RANDOM_BYTES).toString('base64url')
}

/**
 * Enrollment tokens, stored only as SHA-256 hashes in the `enroll-tokens` sublevel.
 *
 * Consumption is atomic: LevelDB has no compare-and-swap, but only this process can open the
 * database (LevelDB's lock file), so serializing every read-check-write of one token behind an
 * in-process per-token lock makes it linearizable. The decrement is one `sync` write, so a
 * consumed use survives a crash. Of N concurrent requests with a one-use token, the first to
 * take the lock decrements to 0 and every later one finds 0 and is refused.
 */
export class TokenStore {
  readonly #tokens: Sublevel<TokenRecord>
  readonly #locks = new Map<string, Promise<unknown>>()

  constructor (store: MeshStore) {
    this.#tokens = store.sublevel<TokenRecord>('enroll-tokens')
  }

  /** Creates a token; returns its text, which is shown once and never stored. */
  async create (options: { now: number, ttlMs: number, uses?: number, nodeId?: string, replace?: boolean, roles?: readonly string[] }): Promise<{ token: string, tokenId: string, record: TokenRecord }> {
    const uses = options.uses ?? 1
    // A replacement names whom it replaces: an unbound one would let its holder take over any node_id.
    if (options.replace === true && options.nodeId == null) {
      throw new TokenError('INVALID_TOKEN_PARAMS', 'a replacement token must be bound to a node_id')
    }
    if (!Number.isSafeInteger(options.ttlMs) || options.ttlMs <= 0 || options.ttlMs > MAX_TOKEN_TTL_MS) {
      throw new TokenError('INVALID_TOKEN_PARAMS', `ttl must be between 1 ms and ${MAX_TOKEN_TTL_MS} ms`)
    }
    if (!Number.isSafeInteger(uses) || uses < 1 || uses > MAX_TOKEN_USES) {
      throw new TokenError('INVALID_TOKEN_PARAMS', `uses must be between 1 and ${MAX_TOKEN_USES}`)
    }
    let roles: string[]
    try {
      roles = normalizeRoles(options.roles ?? [])
    } catch (err) {
      throw new TokenError('INVALID_TOKEN_PARAMS', (err as Error).message, { cause: err })
    }
    const token = generateToken()
    const hash = hashToken(token)
    const record: TokenRecord = { createdAt: options.now, expiresAt: options.now + options.ttlMs, usesLeft: uses, used: 0 }
    if (options.nodeId != null) { record.nodeId = options.nodeId }
    if (options.replace === true) { record.replace = true }
    if (roles.length > 0) { record.roles = roles }
    await this.#tokens.put(hash, record, SYNC)
    return { token, tokenId: hash.slice(0, 16), record }
  }

  /**
   * Checks a token without consuming it: returns its record when it is usable at `now`, else
   * throws TOKEN_REJECTED (the same for unknown, used and expired).
   */
  async inspect (token: string, now: number): Promise<TokenRecord> {
    if (!isTokenFormat(token)) { throw new TokenError('INVALID_TOKEN_FORMAT', 'malformed token') }
    const rec = await this.#tokens.get(hashToken(token))
    return usable(rec, now)
  }

  /**
   * Consumes one use atomically. `nodeId` is the node the caller enrolls; a token bound to
   * another node is refused (TOKEN_NODE_MISMATCH) without being consumed.
   */
  async consume (token: string, options: { now: number, nodeId?: string }): Promise<TokenGrant> {
    if (!isTokenFormat(token)) { throw new TokenError('INVALID_TOKEN_FORMAT', 'malformed token') }
    const hash = hashToken(token)
    return this.#withLock(hash, async () => {
      const rec = usable(await this.#tokens.get(hash), options.now)
      if (rec.nodeId != null && options.nodeId != null && !sameText(rec.nodeId, options.nodeId)) {
        throw new TokenError('TOKEN_NODE_MISMATCH', 'token is bound to another node_id')
      }
      await this.#tokens.put(hash, { ...rec, usesLeft: rec.usesLeft - 1, used: rec.used + 1 }, SYNC)
      let refunded = false
      const grant: TokenGrant = {
        tokenId: hash.slice(0, 16),
        refund: async () => {
          if (refunded) { return }
          refunded = true
          await this.#withLock(hash, async () => {
            const cur = await this.#tokens.get(hash)
            if (cur == null) { return }
            await this.#tokens.put(hash, { ...cur, usesLeft: cur.usesLeft + 1, used: cur.used - 1 }, SYNC)
          })
        }
      }
      if (rec.nodeId != null) { grant.nodeId = rec.nodeId }
      return grant
    })
  }

  /** The stored record for a token (tests and the admin view); undefined when unknown. */
  async get (token: string): Promise<TokenRecord | undefined> {
    return this.#tokens.get(hashToken(token))
  }

  /** The keys of all token records (tests use them to show that only hashes are stored). */
  async hashes (): Promise<string[]> {
    return this.#tokens.keys().all()
  }

  /** Tokens that can still enroll at `now` (uses left, not expired): the CA's tokens-outstanding gauge. Reads at most `limit` records. */
  async outstanding (now: number, limit = 10_000): Promise<number> {
    let n = 0
    for await (const v of this.#tokens.values({ limit })) {
      if (v.usesLeft > 0 && now < v.expiresAt) { n++ }
    }
    return n
  }

  /** Deletes records that expired before `now`; returns how many. Bounded by `limit`. */
  async pruneExpired (now: number, limit = 10_000): Promise<number> {
    const stale: string[] = []
    for await (const [k, v] of this.#tokens.iterator({ limit })) {
      if (v.expiresAt <= now) { stale.push(k) }
    }
    if (stale.length > 0) { await this.#tokens.batch(stale.map(key => ({ type: 'del' as const, key })), SYNC) }
    return stale.length
  }

  /** Runs `fn` with the lock for one token hash; waiters queue in arrival order. */
  async #withLock<T>(hash: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(hash) ?? Promise.resolve()
    const run = prev.then(fn, fn)
    const tail = run.catch(() => {})
    this.#locks.set(hash, tail)
    try {
      return await run
    } finally {
      // Drop the entry once no one queued behind us, so the map stays bounded by live contention.
      if (this.#locks.get(hash) === tail) { this.#locks.delete(hash) }
    }
  }
}

function usable (rec: TokenRecord | undefined, now: number): TokenRecord {
  if (rec == null) { throw rejected('unknown') }
  // A used-up token that has also expired counts as used: that is what happened to it first.
  if (rec.usesLeft < 1) { throw rejected('used') }
  if (now >= rec.expiresAt) { throw rejected('expired') }
  return rec
}

/**
 * TOKEN_REJECTED with its reason in `refusal`, for the CA's event log only: code and message stay
 * the same for all three, so nothing that shows an error's text can tell them apart.
 */
function rejected (refusal: TokenRefusal): TokenError {
  return new TokenError('TOKEN_REJECTED', 'token is unknown, used or expired', { refusal })
}

function sameText (a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8')
  const y = Buffer.from(b, 'utf8')
  return x.length === y.length && timingSafeEqual(x, y)
}
