import { expect } from 'aegir/chai'
import { EQUIVOCATION_DEFAULTS, EquivocationReports } from '../../../protocols/anomaly-gossip/equivocation.ts'
import type { AnomalyConflict } from '../../../protocols/anomaly-gossip/validate.ts'

const T0 = Date.parse('2026-03-01T12:00:00Z')
const HOUR = 3_600_000

function conflict (nodeId: string, n: number): AnomalyConflict {
  return {
    action: 'ignore',
    code: 'CONFLICTING_PAYLOAD',
    messageId: `${nodeId}:m-${n}`,
    origin: { nodeId, peerId: `12D3KooW${nodeId}` },
    heldDigest: `held-${n}`,
    conflictingDigest: `other-${n}`
  }
}

describe('anomaly gossip: EquivocationReports (bounds on what an equivocator costs)', () => {
  it('raises a report naming the origin, the message id, both digests and the relay', () => {
    const r = new EquivocationReports()
    const report = r.note(T0, conflict('node-e', 1), 'relay-peer')
    expect(report).to.deep.equal({
      nodeId: 'node-e',
      peerId: '12D3KooWnode-e',
      messageId: 'node-e:m-1',
      heldDigest: 'held-1',
      conflictingDigest: 'other-1',
      relay: 'relay-peer',
      at: T0
    })
    expect(r.recent()).to.deep.equal([report])
    expect(r.origins()).to.deep.equal([{ nodeId: 'node-e', peerId: '12D3KooWnode-e', conflicts: 1, suppressed: 0, firstAt: T0, lastAt: T0 }])
  })

  it('raises at most maxReportsPerOrigin per origin and window, counts the rest as suppressed, and opens a new window after windowMs', () => {
    const r = new EquivocationReports({ maxReportsPerOrigin: 3, windowMs: HOUR })
    const raised = Array.from({ length: 10 }, (_, i) => r.note(T0 + i, conflict('node-e', i), 'p')).filter(x => x != null)
    expect(raised).to.have.length(3)
    // Another origin has its own allowance: one flooder does not silence the reports on others.
    expect(r.note(T0 + 20, conflict('node-x', 1), 'p')).to.not.equal(undefined)
    expect(r.conflicts).to.equal(11)
    expect(r.origins().find(o => o.nodeId === 'node-e')).to.include({ conflicts: 10, suppressed: 7 })
    // A window later the origin is reported again.
    expect(r.note(T0 + HOUR, conflict('node-e', 99), 'p')).to.not.equal(undefined)
  })

  it('tracks at most maxOrigins origins (least recently heard dropped) and keeps at most maxRecent reports', () => {
    const r = new EquivocationReports({ maxOrigins: 4, maxRecent: 5 })
    for (let i = 0; i < 10; i++) { r.note(T0 + i, conflict(`node-${i}`, i), 'p') }
    expect(r.origins().map(o => o.nodeId)).to.deep.equal(['node-6', 'node-7', 'node-8', 'node-9'])
    expect(r.recent().map(x => x.nodeId)).to.deep.equal(['node-5', 'node-6', 'node-7', 'node-8', 'node-9'])
    expect(r.conflicts).to.equal(10)
  })

  it('defaults: 8 reports per origin per hour, 1024 origins, 256 recent reports', () => {
    expect(EQUIVOCATION_DEFAULTS).to.deep.equal({ maxReportsPerOrigin: 8, windowMs: HOUR, maxOrigins: 1024, maxRecent: 256 })
  })
})
