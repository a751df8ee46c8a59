import { expect } from 'aegir/chai'
import { generateToken, tokenIdOf } from '../../src/store/token-store.ts'
import { call, enrollVia, nodeCsr, startService } from './harness.ts'
import type { Service } from './harness.ts'
import type { CaEvent } from '../../src/enrollment/ca-events.ts'

/**
 * The CA's structured event log, enrollment side: token minted, enrollment accepted, enrollment
 * refused with its code, node_id and token id. The log tells an unknown, a used and an expired
 * token apart while the HTTP answer stays one TOKEN_REJECTED; no entry carries token text.
 */
describe('enrollment: the CA event log (tokens and enrollments)', function () {
  this.timeout(60_000)
  let svc: Service
  const events: Array<{ fields: CaEvent, msg: string }> = []
  const issuedTokens: string[] = []

  before(async () => {
    svc = await startService({ service: { events: { info: (fields, msg) => { events.push({ fields: structuredClone(fields), msg }) } } } })
  })
  after(async () => {
    await svc?.cleanup()
    // No entry of the whole suite carries a token's text, whatever it logged.
    const all = JSON.stringify(events)
    for (const t of issuedTokens) { expect(all).to.not.include(t) }
    expect(all).to.not.include('dmt1_')
  })

  const mint = async (req: { nodeId?: string, ttlMs?: number, uses?: number, replace?: boolean, roles?: string[] } = {}): Promise<string> => {
    const t = (await svc.service.createToken({ ttlMs: req.ttlMs ?? 60_000, uses: req.uses ?? 1, ...(req.nodeId != null ? { nodeId: req.nodeId } : {}), ...(req.replace === true ? { replace: true } : {}), ...(req.roles != null ? { roles: req.roles } : {}) }, svc.clock.now())).token
    issuedTokens.push(t)
    return t
  }
  const last = (kind: CaEvent['event']): CaEvent | undefined => events.filter(e => e.fields.event === kind).at(-1)?.fields

  it('token minted: token id, node_id, uses, expiry, replace and roles, never the token', async () => {
    const t = await mint({ nodeId: 'ev-1', uses: 2, replace: true, roles: ['relay', 'gateway'] })
    const rec = await svc.service.tokens.get(t)
    expect(last('token-minted')).to.deep.equal({ event: 'token-minted', token_id: tokenIdOf(t), node_id: 'ev-1', uses: 2, expires_at: rec?.expiresAt, replace: true, roles: ['gateway', 'relay'] })
    await mint()
    expect(last('token-minted')).to.deep.include({ node_id: null, uses: 1, replace: false, roles: [] })
  })

  it('enrollment accepted: node_id, token id, serial', async () => {
    const t = await mint()
    const r = await call(svc, 'POST', '/v1/enroll', { token: t, csr: (await nodeCsr('ev-ok')).csrPem })
    expect(r.status).to.equal(200)
    expect(last('enroll-accepted')).to.deep.equal({ event: 'enroll-accepted', node_id: 'ev-ok', token_id: tokenIdOf(t), serial: r.json.serial, superseded: [] })
  })

  it('unknown, used and expired tokens: one HTTP answer (401 TOKEN_REJECTED), three reasons in the log', async () => {
    const csr = (await nodeCsr('ev-tok')).csrPem
    const unknown = generateToken()
    const used = await mint()
    expect((await call(svc, 'POST', '/v1/enroll', { token: used, csr: (await nodeCsr('ev-used-first')).csrPem })).status).to.equal(200)
    const expired = await mint({ ttlMs: 1000 })
    svc.clock.advance(2000)
    const bodies: string[] = []
    for (const [token, reason] of [[unknown, 'unknown'], [used, 'used'], [expired, 'expired']] as const) {
      const before = events.length
      const r = await call(svc, 'POST', '/v1/enroll', { token, csr, node_id: 'ev-tok' })
      expect(r.status).to.equal(401)
      bodies.push(r.body.toString('utf8'))
      const logged = events.slice(before).map(e => e.fields)
      expect(logged).to.deep.equal([{ event: 'enroll-refused', code: 'TOKEN_REJECTED', node_id: 'ev-tok', token_id: tokenIdOf(token), token_refusal: reason }])
    }
    expect(new Set(bodies).size).to.equal(1)
    expect(JSON.parse(bodies[0]).error.code).to.equal('TOKEN_REJECTED')
  })

  it('NODE_ID_TAKEN is logged with its code, node_id and token id (no token reason: the token was good)', async () => {
    await enrollVia(svc, 'ev-held')
    const t = await mint()
    const before = events.length
    const r = await call(svc, 'POST', '/v1/enroll', { token: t, csr: (await nodeCsr('ev-held')).csrPem })
    expect(r.status).to.equal(409)
    expect(events.slice(before).map(e => e.fields)).to.deep.equal([{ event: 'enroll-refused', code: 'NODE_ID_TAKEN', node_id: 'ev-held', token_id: tokenIdOf(t) }])
    expect(events.slice(before).map(e => e.msg)).to.deep.equal(['enrollment refused'])
  })

  it('a replacement enrollment logs the superseded serials and their revocation (reason superseded, by the token)', async () => {
    const held = await enrollVia(svc, 'ev-rep')
    const t = await mint({ nodeId: 'ev-rep', replace: true })
    const r = await call(svc, 'POST', '/v1/enroll', { token: t, csr: (await nodeCsr('ev-rep')).csrPem })
    expect(r.status).to.equal(200)
    expect(last('enroll-accepted')).to.deep.equal({ event: 'enroll-accepted', node_id: 'ev-rep', token_id: tokenIdOf(t), serial: r.json.serial, superseded: [held.serial] })
    expect(last('revoked')).to.deep.equal({ event: 'revoked', serials: [held.serial], node_id: 'ev-rep', reason: 'superseded', by: `replacement-token:${tokenIdOf(t)}` })
  })
})
