import { expect } from 'aegir/chai'
import { encode } from 'cborg'
import { decodeAsb, encodeAsb } from '../../src/dtn/bpsec.ts'
import { decodeBundle, encodeCanonical, encodePrimary, joinBlocks } from '../../src/dtn/bpv7.ts'
import { parseBundleId } from '../../src/dtn/bundle-id.ts'
import { sha256 } from '../../src/dtn/mesh-bundle.ts'
import { aduKey, hexText, partKey } from '../../src/dtn/store/bundle-keys.ts'
import { createTestCa, enroll, revoke } from '../node/fixtures.ts'
import { agentFor, Clock, craft, NOW, rejection, setupPki, storeContents, tempStore } from './fixtures.ts'
import type { Pki, TempStore } from './fixtures.ts'
import type { BundleAgent } from '../../src/dtn/bundle-agent.ts'

/**
 * Hostile input at the receiving end: each case is refused with its
 * exact code and leaves the store as it was: nothing kept, nothing marked seen, quota untouched.
 * All of it on a real LevelDB.
 */
describe('dtn / hostile bundles', function () {
  let pki: Pki
  let ts: TempStore
  let clock: Clock
  let b: BundleAgent

  before(async () => { pki = await setupPki() })
  after(async () => { await pki.close() })
  beforeEach(async () => {
    ts = await tempStore()
    clock = new Clock()
    b = await agentFor(pki.b, ts.store, pki.tca, clock)
  })
  afterEach(async () => { await ts.destroy() })

  /** Receives `bytes` at node-b, expects the refusal, and that the store did not change. */
  async function refused (bytes: Uint8Array, name: string, code: string): Promise<void> {
    const before = await storeContents(b, clock.t)
    const err = await rejection(b.receive(bytes, { from: 'node-c' }))
    expect(err).to.include({ name, code })
    expect(await storeContents(b, clock.t)).to.deep.equal(before)
  }

  it('a bundle with a forged source signature (payload changed after signing): BAD_SIGNATURE', async () => {
    // a payload changed in transit no longer matches the signed ADU digest: caught before any crypto
    const bytes = await craft({ signer: pki.a, tamperPayload: true, payload: Buffer.from('launch at dawn') })
    await refused(bytes, 'BundleError', 'DIGEST_MISMATCH')
    const forged = await craft({ signer: pki.a, payload: Buffer.from('launch at dusk') })
    const decoded = decodeBundle(forged)
    // keep the genuine signature, swap in another payload and its digest: the signature no longer covers it
    const other = Buffer.from('launch at noon')
    const asb = decodeAsb(decoded.blocks[1].data)
    asb.params = asb.params?.map(([k, v]) => (k === 2 ? [k, sha256(other)] : [k, v]))
    const bib = encodeCanonical({ ...decoded.blocks[1], data: encodeAsb(asb) })
    const pay = encodeCanonical({ ...decoded.blocks[2], data: other })
    await refused(joinBlocks(decoded.rawPrimary, [decoded.rawBlocks[0], bib, pay]), 'BundleError', 'BAD_SIGNATURE')
  })

  it('a relay rewriting the destination (primary block re-encoded, CRC made valid): BAD_SIGNATURE', async () => {
    const bytes = await craft({ signer: pki.a, destSsp: '//node-c/' })
    const d = decodeBundle(bytes)
    const primary = encodePrimary({ ...d.primary, destination: { scheme: 'dtn', ssp: '//node-b/' } })
    await refused(joinBlocks(primary, d.rawBlocks), 'BundleError', 'BAD_SIGNATURE')
  })

  it('a source signed by another node\'s key under the claimed node\'s chain: BAD_SIGNATURE', async () => {
    await refused(await craft({ signer: pki.c, chain: pki.a.chain, sourceSsp: '//node-a/' }), 'BundleError', 'BAD_SIGNATURE')
  })

  it('a source claimed by a node whose own valid certificate names it otherwise: SOURCE_MISMATCH', async () => {
    await refused(await craft({ signer: pki.c, sourceSsp: '//node-a/' }), 'BundleError', 'SOURCE_MISMATCH')
  })

  it('a source certified by a CA we do not trust: UNTRUSTED_SOURCE', async () => {
    const rogue = await createTestCa('rogue')
    try {
      const mallory = await enroll(rogue, 'node-a')
      await refused(await craft({ signer: mallory }), 'BundleError', 'UNTRUSTED_SOURCE')
    } finally {
      await rogue.close()
    }
  })

  it('a bundle without the mesh signature context: MISSING_SIGNATURE', async () => {
    const d = decodeBundle(await craft({ signer: pki.a }))
    const asb = decodeAsb(d.blocks[1].data)
    const bib = encodeCanonical({ ...d.blocks[1], data: encodeAsb({ ...asb, contextId: 1 }) })
    await refused(joinBlocks(d.rawPrimary, [d.rawBlocks[0], bib, d.rawBlocks[2]]), 'BundleError', 'MISSING_SIGNATURE')
  })

  it('a bundle from a revoked source (the CA\'s CRL): REVOKED_SOURCE', async () => {
    const bytes = await craft({ signer: pki.a })
    const crls = pki.tca.crls
    try {
      await revoke(pki.tca, pki.a.serialHex)
      await refused(bytes, 'BundleError', 'REVOKED_SOURCE')
    } finally {
      pki.tca.crls = crls
    }
  })

  it('a bundle from a source the node\'s revocation state revokes (pushed CRL): REVOKED_SOURCE', async () => {
    b = await agentFor(pki.b, ts.store, pki.tca, clock, { revoked: id => id.nodeId === 'node-a' })
    await refused(await craft({ signer: pki.a }), 'BundleError', 'REVOKED_SOURCE')
  })

  it('a hop count over the hop limit: HOP_LIMIT_EXCEEDED (also 2^64-1, and no hop left to relay)', async () => {
    await refused(await craft({ signer: pki.a, hopLimit: 4, hopCount: 5 }), 'BundleError', 'HOP_LIMIT_EXCEEDED')
    await refused(await craft({ signer: pki.a, hopLimit: 4, hopCount: 2n ** 64n - 1n }), 'BundleError', 'HOP_LIMIT_EXCEEDED')
    // for node-c, arriving at node-b with no hop left: node-b could never pass it on
    await refused(await craft({ signer: pki.a, destSsp: '//node-c/', hopLimit: 4, hopCount: 4 }), 'BundleError', 'HOP_LIMIT_EXCEEDED')
  })

  it('fragment offsets out of range: FRAGMENT_OUT_OF_RANGE', async () => {
    const adu = new Uint8Array(120)
    const aduDigest = sha256(adu)
    await refused(await craft({ signer: pki.a, payload: new Uint8Array(50), fragment: { offset: 100, total: 120, aduDigest } }), 'BundleError', 'FRAGMENT_OUT_OF_RANGE')
    await refused(await craft({ signer: pki.a, payload: new Uint8Array(1), fragment: { offset: 120, total: 120, aduDigest } }), 'BundleError', 'FRAGMENT_OUT_OF_RANGE')
  })

  it('overlapping fragments: FRAGMENT_OVERLAP, and only the first one is kept', async () => {
    const adu = Buffer.alloc(300, 7)
    const aduDigest = sha256(adu)
    const first = await craft({ signer: pki.a, payload: adu.subarray(0, 100), fragment: { offset: 0, total: 300, aduDigest } })
    expect((await b.receive(first)).status).to.equal('accepted')
    await refused(await craft({ signer: pki.a, payload: adu.subarray(50, 150), fragment: { offset: 50, total: 300, aduDigest } }), 'BundleError', 'FRAGMENT_OVERLAP')
    const held = await b.store.fragmentsOf({ source: 'node-a', createdAt: NOW, sequence: 0 })
    expect(held.map(h => [h.meta.offset, h.meta.length])).to.deep.equal([[0, 100]])
    // a sibling that claims another ADU digest
    await refused(await craft({ signer: pki.a, payload: adu.subarray(100, 200), fragment: { offset: 100, total: 300, aduDigest: sha256(Buffer.from('x')) } }), 'BundleError', 'FRAGMENT_MISMATCH')
  })

  it('a declared length of 2^64-1 (total ADU length, fragment offset, payload byte string): LENGTH_OUT_OF_RANGE', async () => {
    const huge = 2n ** 64n - 1n
    const aduDigest = sha256(new Uint8Array(1))
    await refused(await craft({ signer: pki.a, payload: new Uint8Array(1), fragment: { offset: 0, total: huge, aduDigest } }), 'BundleError', 'LENGTH_OUT_OF_RANGE')
    await refused(await craft({ signer: pki.a, payload: new Uint8Array(1), fragment: { offset: huge, total: 10, aduDigest } }), 'BundleError', 'LENGTH_OUT_OF_RANGE')
    // a payload block whose byte string head declares 2^64-1 bytes, with a few bytes behind it
    const d = decodeBundle(await craft({ signer: pki.a }))
    const lying = Uint8Array.from([0x85, 0x01, 0x01, 0x00, 0x00, 0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3])
    const bytes = new Uint8Array([...joinBlocks(d.rawPrimary, [d.rawBlocks[0], d.rawBlocks[1], lying])])
    await refused(bytes, 'BundleError', 'LENGTH_OUT_OF_RANGE')
    // an array head claiming 2^64-1 items
    await refused(Uint8Array.from([0x9f, 0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0xff]), 'BundleError', 'LENGTH_OUT_OF_RANGE')
  })

  it('ids containing LevelDB separator bytes: INVALID_EID on the wire, INVALID_ID as text, and never a raw key', async () => {
    await refused(await craft({ signer: pki.a, sourceSsp: '//node-a!\x00\xff/' }), 'BundleError', 'INVALID_EID')
    await refused(await craft({ signer: pki.a, destSsp: '//node-b\x00!sub!/' }), 'BundleError', 'INVALID_EID')
    for (const text of ['node-a\x00:1:2', 'node-a!x:1772366400000:0', '!dtn-bundles!x:1772366400000:0', 'node-a:1772366400000:0\xff', 'node-a:-1:0']) {
      expect(() => parseBundleId(text)).to.throw().with.property('code', 'INVALID_ID')
    }
    // keys are built from hex and fixed-width numbers only, whatever the text was
    for (const s of ['a!b', 'a\x00b', '\xff\xff', '..', '']) {
      expect(hexText(s)).to.match(/^([0-9a-f]+|-)$/)
      expect(partKey({ source: s, createdAt: NOW, sequence: 0 }, 0)).to.match(/^([0-9a-f]+|-)\.[0-9a-f]{16}\.[0-9a-f]{16}\.[0-9a-f]{16}$/)
    }
    expect(aduKey({ source: 'a.b', createdAt: 1, sequence: 2 })).to.not.equal(aduKey({ source: 'a', createdAt: 1, sequence: 2 }))
  })

  it('a broken CRC: CRC_MISMATCH; a primary block version 6: UNSUPPORTED_VERSION', async () => {
    const bytes = await craft({ signer: pki.a })
    const bad = bytes.slice()
    bad[13] ^= 0x01 // inside the primary block: "//node-b/" becomes "//nodd-b/", still a valid EID
    await refused(bad, 'BundleError', 'CRC_MISMATCH')
    const d = decodeBundle(bytes)
    const v6 = encode([6, ...(await import('cborg')).decode(d.rawPrimary).slice(1)])
    await refused(joinBlocks(v6, d.rawBlocks), 'BundleError', 'UNSUPPORTED_VERSION')
  })

  it('an expired bundle, and one created too far in the future: EXPIRED, CREATED_IN_FUTURE', async () => {
    await refused(await craft({ signer: pki.a, createdAt: NOW - 7200_000, ttlSec: 3600 }), 'BundleError', 'EXPIRED')
    await refused(await craft({ signer: pki.a, createdAt: NOW + 3600_000 }), 'BundleError', 'CREATED_IN_FUTURE')
  })

  it('a store over its quota: QUOTA_EXCEEDED, and nothing accepted earlier is ever dropped', async () => {
    const payload = new Uint8Array(4000)
    // the whole quota alone, no reserve and no shares (test/dtn/store-shares.spec.ts covers those)
    const whole = { localReserve: 0, perSource: 1, perNeighbour: 1 }
    b = await agentFor(pki.b, ts.store, pki.tca, clock, { quotaBytes: 12_000, shares: whole })
    const accepted: number[] = []
    let refusal: any
    for (let seq = 0; seq < 20 && refusal == null; seq++) {
      const bytes = await craft({ signer: pki.a, destSsp: '//node-c/', sequence: seq, payload })
      try {
        await b.receive(bytes)
        accepted.push(seq)
      } catch (err) {
        refusal = err
        expect(await b.store.hasSeen({ source: 'node-a', createdAt: NOW, sequence: seq })).to.equal(false)
      }
    }
    expect(refusal).to.include({ name: 'BundleStoreError', code: 'QUOTA_EXCEEDED' })
    expect(accepted.length).to.be.greaterThan(0)
    expect(b.store.usage.bytes).to.be.at.most(12_000)
    // time passes (not to expiry), a sweep runs, the node restarts: every accepted bundle is still held
    clock.t += 1800_000
    await b.sweep()
    await b.store.close()
    b = await agentFor(pki.b, await ts.reopen(), pki.tca, clock, { quotaBytes: 12_000, shares: whole })
    const held = (await b.store.listOutbound()).map(m => m.id.sequence)
    expect(held).to.deep.equal(accepted)
    // a fragmented send that does not fit is refused whole: none of its fragments is kept
    const err = await rejection(b.send({ destination: 'node-c', ttlSec: 600, payload: new Uint8Array(200_000) }))
    expect(err).to.include({ name: 'BundleStoreError', code: 'QUOTA_EXCEEDED' })
    expect((await b.store.listOutbound()).map(m => m.id.sequence)).to.deep.equal(accepted)
  })
})
