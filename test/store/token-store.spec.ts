import { expect } from 'aegir/chai'
import { MemoryLevel } from 'memory-level'
import { wrapStore } from '../../src/store/mesh-store.ts'
import { hashToken, isTokenFormat, MAX_TOKEN_TTL_MS, TokenStore } from '../../src/store/token-store.ts'
import type { MeshStore, RootDb } from '../../src/store/mesh-store.ts'

async function rejects (p: Promise<unknown>): Promise<any> {
  try {
    await p
  } catch (err) {
    return err
  }
  throw new Error('expected a rejection')
}

describe('store: enrollment token store', () => {
  let store: MeshStore
  let tokens: TokenStore
  const T0 = 1_700_000_000_000

  beforeEach(async () => {
    const db = new MemoryLevel<string, any>({ keyEncoding: 'utf8', valueEncoding: 'json' })
    await db.open()
    store = wrapStore(db as unknown as RootDb)
    tokens = new TokenStore(store)
  })
  afterEach(async () => { await store.close() })

  it('creates 256-bit tokens in the token format and stores only their SHA-256', async () => {
    const a = await tokens.create({ now: T0, ttlMs: 60_000 })
    const b = await tokens.create({ now: T0, ttlMs: 60_000 })
    expect(isTokenFormat(a.token)).to.equal(true)
    expect(a.token).to.not.equal(b.token)
    expect(Buffer.from(a.token.slice(5), 'base64url')).to.have.length(32)
    const raw = await store.db.sublevel('enroll-tokens', { valueEncoding: 'json' }).iterator().all()
    expect(raw.map(([k]) => k).sort()).to.deep.equal([hashToken(a.token), hashToken(b.token)].sort())
    expect(JSON.stringify(raw)).to.not.include(a.token.slice(5))
  })

  it('consumes exactly once: the second consume is TOKEN_REJECTED', async () => {
    const { token } = await tokens.create({ now: T0, ttlMs: 60_000 })
    await tokens.consume(token, { now: T0 })
    const err = await rejects(tokens.consume(token, { now: T0 }))
    expect(err.name).to.equal('TokenError')
    expect(err.code).to.equal('TOKEN_REJECTED')
  })

  it('of 50 concurrent consumes of a one-use token exactly one succeeds', async () => {
    const { token } = await tokens.create({ now: T0, ttlMs: 60_000 })
    const results = await Promise.allSettled(Array.from({ length: 50 }, async () => tokens.consume(token, { now: T0 })))
    expect(results.filter(r => r.status === 'fulfilled')).to.have.length(1)
    for (const r of results.filter(r => r.status === 'rejected')) { expect((r as PromiseRejectedResult).reason.code).to.equal('TOKEN_REJECTED') }
    expect((await tokens.get(token))?.usesLeft).to.equal(0)
  })

  it('of 50 concurrent consumes of a 3-use token exactly three succeed', async () => {
    const { token } = await tokens.create({ now: T0, ttlMs: 60_000, uses: 3 })
    const results = await Promise.allSettled(Array.from({ length: 50 }, async () => tokens.consume(token, { now: T0 })))
    expect(results.filter(r => r.status === 'fulfilled')).to.have.length(3)
  })

  it('expires: usable 1 ms before expiry, TOKEN_REJECTED at it', async () => {
    const { token } = await tokens.create({ now: T0, ttlMs: 60_000 })
    expect((await tokens.inspect(token, T0 + 59_999)).usesLeft).to.equal(1)
    expect((await rejects(tokens.consume(token, { now: T0 + 60_000 }))).code).to.equal('TOKEN_REJECTED')
  })

  it('unknown, used and expired are the same refusal', async () => {
    const used = (await tokens.create({ now: T0, ttlMs: 60_000 })).token
    await tokens.consume(used, { now: T0 })
    const expired = (await tokens.create({ now: T0, ttlMs: 1 })).token
    const unknown = 'dmt1_' + 'B'.repeat(43)
    const errs = await Promise.all([used, expired, unknown].map(async t => rejects(tokens.consume(t, { now: T0 + 10 }))))
    expect(errs.map(e => [e.name, e.code])).to.deep.equal(Array(3).fill(['TokenError', 'TOKEN_REJECTED']))
    // Not even the human text tells them apart.
    expect(new Set(errs.map(e => e.message)).size).to.equal(1)
    // Only the reason kept for the CA's event log does.
    expect(errs.map(e => e.refusal)).to.deep.equal(['used', 'expired', 'unknown'])
  })

  it('a bound token refuses another node_id without spending a use', async () => {
    const { token } = await tokens.create({ now: T0, ttlMs: 60_000, nodeId: 'node-a' })
    expect((await rejects(tokens.consume(token, { now: T0, nodeId: 'node-b' }))).code).to.equal('TOKEN_NODE_MISMATCH')
    expect((await tokens.get(token))?.usesLeft).to.equal(1)
    const grant = await tokens.consume(token, { now: T0, nodeId: 'node-a' })
    expect(grant.nodeId).to.equal('node-a')
  })

  it('refund gives back exactly one use, once', async () => {
    const { token } = await tokens.create({ now: T0, ttlMs: 60_000 })
    const grant = await tokens.consume(token, { now: T0 })
    await grant.refund()
    await grant.refund()
    expect((await tokens.get(token))?.usesLeft).to.equal(1)
  })

  it('refuses malformed tokens before any lookup, and bad parameters at creation', async () => {
    expect((await rejects(tokens.consume('dmt1_short', { now: T0 }))).code).to.equal('INVALID_TOKEN_FORMAT')
    expect((await rejects(tokens.create({ now: T0, ttlMs: 0 }))).code).to.equal('INVALID_TOKEN_PARAMS')
    expect((await rejects(tokens.create({ now: T0, ttlMs: MAX_TOKEN_TTL_MS + 1 }))).code).to.equal('INVALID_TOKEN_PARAMS')
    expect((await rejects(tokens.create({ now: T0, ttlMs: 1000, uses: 0 }))).code).to.equal('INVALID_TOKEN_PARAMS')
  })

  it('prunes expired records only', async () => {
    const live = (await tokens.create({ now: T0, ttlMs: 60_000 })).token
    await tokens.create({ now: T0, ttlMs: 10 })
    expect(await tokens.pruneExpired(T0 + 100)).to.equal(1)
    expect(await tokens.hashes()).to.deep.equal([hashToken(live)])
  })
})
