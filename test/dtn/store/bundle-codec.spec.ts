import { expect } from 'aegir/chai'
import { decodeRecord, encodeRecord } from '../../../src/dtn/store/bundle-codec.ts'
import type { DeliveredMeta, FragmentMeta, OutboundMeta } from '../../../src/dtn/store/bundle-records.ts'
import type { PeerIdentity } from '../../../src/pki/peer-verifier.ts'

const NOW = Date.parse('2026-03-01T12:00:00Z')

const signer: PeerIdentity = {
  nodeId: 'node-a',
  peerId: '12D3KooWRr1ik2Kq3cQ5y7aK1g8Xf4oC9Y1sV2uVxWkYy6DkGx8L',
  serialHex: '5f3a1c9e2b7d4f60',
  notBefore: NOW - 3_600_000,
  notAfter: NOW + 86_400_000,
  spki: Uint8Array.from({ length: 91 }, (_, i) => i),
  fingerprint: 'ab'.repeat(32),
  issuerFingerprint: 'cd'.repeat(32)
}

function outbound (sequence: number, extra: Partial<OutboundMeta> = {}): OutboundMeta {
  return {
    id: { source: 'node-a', createdAt: NOW, sequence },
    offset: 65_536,
    length: 4000,
    fragmented: true,
    aduLength: 5 * 1024 * 1024,
    destination: 'node-c',
    broadcast: false,
    createdAt: NOW,
    expiresAt: NOW + 3_600_000,
    hopCount: 2,
    hopLimit: 32,
    copies: 4,
    attempts: 3,
    nextAttemptAt: NOW + 1500,
    sentTo: ['node-b', 'relay-ü'],
    receivedFrom: 'node-b',
    acceptedAt: NOW + 7,
    signer,
    ...extra
  }
}

const bytes = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff)

describe('store / bundle record codec', function () {
  it('round-trips an outbound record: every field, flags, holders, the signer and the bytes', () => {
    const m = outbound(1)
    const data = bytes(2000, 1)
    const { meta, data: back } = decodeRecord<OutboundMeta>(encodeRecord('outbound', m, data))
    expect(meta).to.deep.equal(m)
    expect(back).to.deep.equal(data)
    // a whole, broadcast, locally made bundle: no receivedFrom at all (not an undefined field)
    const local = outbound(2, { offset: 0, fragmented: false, broadcast: true, destination: 'broadcast', sentTo: [] })
    delete local.receivedFrom
    const decoded = decodeRecord<OutboundMeta>(encodeRecord('outbound', local, new Uint8Array(0))).meta
    expect(decoded).to.deep.equal(local)
    expect(Object.hasOwn(decoded, 'receivedFrom')).to.equal(false)
  })

  it('round-trips fragment and delivered records, with and without a previous hop', () => {
    const fragment: FragmentMeta = {
      id: { source: 'node-a', createdAt: NOW, sequence: 9 }, offset: 128, length: 64, totalLength: 1000, aduDigest: bytes(32, 5), destination: 'node-c', createdAt: NOW, expiresAt: NOW + 1000, signer
    }
    const delivered: DeliveredMeta = {
      id: { source: 'node-a', createdAt: NOW, sequence: 9 }, destination: 'node-c', createdAt: NOW, expiresAt: NOW + 1000, aduLength: 1000, aduDigest: bytes(32, 6), deliveredAt: NOW + 5, receivedFrom: 'node-b', signer
    }
    expect(decodeRecord(encodeRecord('fragment', fragment, bytes(64, 2)))).to.deep.equal({ meta: fragment, data: bytes(64, 2) })
    expect(decodeRecord(encodeRecord('fragment', { ...fragment, receivedFrom: 'node-b' }, bytes(64, 2))).meta).to.deep.equal({ ...fragment, receivedFrom: 'node-b' })
    expect(decodeRecord(encodeRecord('delivered', delivered, bytes(1000, 3)))).to.deep.equal({ meta: delivered, data: bytes(1000, 3) })
  })

  it('keeps every record intact when many are made in a row (they share slabs) and when one is large', () => {
    const made = Array.from({ length: 200 }, (_, i) => ({ m: outbound(i), data: bytes(1500 + i, i), v: new Uint8Array(0) as Uint8Array }))
    for (const r of made) { r.v = encodeRecord('outbound', r.m, r.data) }
    const big = bytes(300_000, 9)
    const bigRecord = encodeRecord('outbound', outbound(1000), big)
    for (const r of made) { expect(decodeRecord(r.v)).to.deep.equal({ meta: r.m, data: r.data }) }
    expect(decodeRecord(bigRecord).data).to.deep.equal(big)
  })

  it('reads records of the earlier JSON format, so an older store opens', () => {
    const m = outbound(3)
    const { signer: s, ...rest } = m
    const json = JSON.stringify({ ...rest, signer: { ...s, spki: Buffer.from(s.spki).toString('base64') } })
    const head = Buffer.alloc(4)
    head.writeUInt32BE(Buffer.byteLength(json), 0)
    const data = bytes(100, 4)
    const legacy = Buffer.concat([head, Buffer.from(json), data])
    expect(decodeRecord(legacy)).to.deep.equal({ meta: m, data })
  })

  it('refuses a cut-short record or an unknown kind with a RangeError instead of inventing fields', () => {
    const v = encodeRecord('outbound', outbound(4), bytes(10, 1))
    // cut inside the strings: the length prefix points past the end
    expect(() => decodeRecord(v.subarray(0, 4 + 13 * 8 + 4 + 3))).to.throw(RangeError)
    expect(() => decodeRecord(v.subarray(0, 20))).to.throw(RangeError)
    const odd = Uint8Array.from(v)
    odd[1] = 9
    expect(() => decodeRecord(odd)).to.throw(RangeError)
  })

  it('is smaller than the JSON record it replaces', () => {
    const m = outbound(5)
    const { signer: s, ...rest } = m
    const json = JSON.stringify({ ...rest, signer: { ...s, spki: Buffer.from(s.spki).toString('base64') } })
    expect(encodeRecord('outbound', m, new Uint8Array(0)).length).to.be.lessThan(4 + Buffer.byteLength(json))
  })
})
