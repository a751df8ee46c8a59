import { expect } from 'aegir/chai'
import { PeerTable } from '../../src/node/index.ts'
import type { AuthenticatedPeer } from '../../protocols/auth/index.ts'

function peer (peerId: string, connectionId: string, notAfter = 10_000): AuthenticatedPeer {
  return {
    nodeId: `node-${peerId}`,
    peerId,
    serialHex: 'abc',
    notBefore: 0,
    notAfter,
    spki: new Uint8Array(1),
    fingerprint: 'f',
    issuerFingerprint: 'i',
    connectionId,
    direction: 'outbound',
    remoteAddr: '/ip4/127.0.0.1/udp/1/quic-v1',
    transport: 'quic',
    authenticatedAt: 0,
    elapsedMs: 1
  }
}

describe('node peer table', () => {
  let t: number
  let table: PeerTable
  beforeEach(() => {
    t = 1_000
    table = new PeerTable(2, () => t)
  })

  it('never learns of a peer until it authenticates', () => {
    table.connectionOpened('stranger', 'c0')
    expect(table.has('stranger')).to.equal(false)
    expect(table.rows()).to.deep.equal([])
  })

  it('follows a peer through authenticated, connected (re-auth pending) and disconnected', () => {
    table.authenticated(peer('p', 'c1'))
    expect(table.get('p')?.status).to.equal('authenticated')
    table.connectionOpened('p', 'c2')
    table.connectionClosed('p', 'c1')
    expect(table.get('p')?.status).to.equal('connected')
    table.connectionClosed('p', 'c2')
    expect(table.get('p')?.status).to.equal('disconnected')
    expect(table.isAuthenticated('p')).to.equal(false)
  })

  it('shows the rows the admin API lists', () => {
    table.authenticated(peer('p', 'c1'))
    expect(table.rows()).to.deep.equal([{
      node_id: 'node-p',
      peer_id: 'p',
      status: 'authenticated',
      transport: 'quic',
      last_seen: new Date(1_000).toISOString(),
      cert_serial: 'abc',
      cert_not_after: new Date(10_000).toISOString(),
      roles: [],
      attested: 'unknown',
      attested_at: null
    }])
    // an attestation check shows in the row
    table.setAttestation('p', true, 2_000)
    expect(table.rows()[0]).to.include({ attested: true, attested_at: new Date(2_000).toISOString() })
    table.setAttestation('p', false, 3_000)
    expect(table.rows()[0]).to.include({ attested: false, attested_at: new Date(3_000).toISOString() })
  })

  it('shows the roles of the peer\'s authenticated certificate', () => {
    table.authenticated({ ...peer('p', 'c1'), roles: ['gateway', 'relay'] })
    expect(table.rows()[0].roles).to.deep.equal(['gateway', 'relay'])
    expect(table.get('p')?.identity.roles).to.deep.equal(['gateway', 'relay'])
  })

  it('vouches for a disconnected peer only while its certificate is valid', () => {
    table.authenticated(peer('p', 'c1', 5_000))
    table.connectionClosed('p', 'c1')
    expect(table.isKnownGood('p')).to.equal(true)
    t = 5_001
    expect(table.isKnownGood('p')).to.equal(false)
  })

  it('evicts the longest-unseen disconnected peers beyond its size, never connected ones', () => {
    table.authenticated(peer('a', 'ca'))
    table.connectionClosed('a', 'ca')
    t++
    table.authenticated(peer('b', 'cb'))
    t++
    table.authenticated(peer('c', 'cc'))
    expect(table.size).to.equal(2)
    expect(table.has('a')).to.equal(false)
    expect(table.has('b') && table.has('c')).to.equal(true)
  })
})
