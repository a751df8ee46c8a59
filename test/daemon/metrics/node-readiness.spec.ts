import { expect } from 'aegir/chai'
import { nodeReadiness } from '../../../src/daemon/metrics/node-readiness.ts'
import type { NodeReadinessInput } from '../../../src/daemon/metrics/node-readiness.ts'
import type { Crl } from '../../../src/pki/crl.ts'

/** The readiness rules, one named case each: which check fails, and that the others stay as they were. */
const NOW = Date.UTC(2026, 0, 10)
const HOUR = 3600_000

function crl (thisUpdate: number, nextUpdate: number | undefined, n: bigint): Crl {
  return { thisUpdate, nextUpdate, crlNumber: n } as unknown as Crl
}

function input (over: Partial<NodeReadinessInput> = {}): NodeReadinessInput {
  return {
    now: NOW,
    certificate: { notBefore: NOW - HOUR, notAfter: NOW + 20 * HOUR, serialHex: 'aa' },
    crls: [crl(NOW - HOUR, NOW + 23 * HOUR, 4n)],
    authenticatedMembers: 2,
    ...over
  }
}

function failing (r: ReturnType<typeof nodeReadiness>): string[] {
  return r.checks.filter(c => !c.ok).map(c => c.name)
}

describe('node readiness rules', function () {
  it('ready: certificate valid, CRL fresh, one authenticated member or more', () => {
    const r = nodeReadiness(input())
    expect(r.ready).to.equal(true)
    expect(r.checks.map(c => c.name)).to.deep.equal(['certificate', 'crl', 'members'])
  })

  it('an expired certificate is not ready (certificate)', () => {
    const r = nodeReadiness(input({ certificate: { notBefore: NOW - 30 * HOUR, notAfter: NOW - 1, serialHex: 'aa' } }))
    expect(r.ready).to.equal(false)
    expect(failing(r)).to.deep.equal(['certificate'])
  })

  it('a revoked node is not ready, and says revoked with reason and CRL number', () => {
    const r = nodeReadiness(input({ revoked: { crlNumber: '7', reason: 'keyCompromise' } }))
    expect(failing(r)).to.deep.equal(['certificate'])
    expect(r.checks[0].detail).to.equal('revoked (keyCompromise, CRL 7)')
  })

  it('no CRL installed yet is not ready (crl)', () => {
    expect(failing(nodeReadiness(input({ crls: [] })))).to.deep.equal(['crl'])
  })

  it('a CRL past its nextUpdate is not ready (crl), also when another CRL is fresh', () => {
    const r = nodeReadiness(input({ crls: [crl(NOW - HOUR, NOW + HOUR, 4n), crl(NOW - 30 * HOUR, NOW - 1, 9n)] }))
    expect(failing(r)).to.deep.equal(['crl'])
    expect(r.checks[1].detail).to.include('CRL 9')
  })

  it('a CRL without nextUpdate is stale after crlMaxAgeMs', () => {
    expect(nodeReadiness(input({ crls: [crl(NOW - 2 * HOUR, undefined, 1n)] }), { minMembers: 1, crlMaxAgeMs: HOUR }).ready).to.equal(false)
    expect(nodeReadiness(input({ crls: [crl(NOW - 2 * HOUR, undefined, 1n)] }), { minMembers: 1, crlMaxAgeMs: 3 * HOUR }).ready).to.equal(true)
  })

  it('fewer authenticated members than minMembers is not ready (members); minMembers 0 needs none', () => {
    expect(failing(nodeReadiness(input({ authenticatedMembers: 0 })))).to.deep.equal(['members'])
    expect(nodeReadiness(input({ authenticatedMembers: 0 }), { minMembers: 0, crlMaxAgeMs: HOUR }).ready).to.equal(true)
    expect(failing(nodeReadiness(input({ authenticatedMembers: 2 }), { minMembers: 3, crlMaxAgeMs: HOUR }))).to.deep.equal(['members'])
  })
})
