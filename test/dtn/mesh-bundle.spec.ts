import { randomBytes } from 'node:crypto'
import { expect } from 'aegir/chai'
import { formatBundleId, parseBundleId } from '../../src/dtn/bundle-id.ts'
import { DEFAULT_MAX_FRAME_BYTES } from '../../src/dtn/constants.ts'
import { createBundle, FRAME_ENVELOPE_BYTES } from '../../src/dtn/create-bundle.ts'
import { BROADCAST } from '../../src/dtn/eid.ts'
import { parseBundle, setHopCount, sha256 } from '../../src/dtn/mesh-bundle.ts'
import { verifyBundleSource } from '../../src/dtn/verify-bundle.ts'
import { verifierFor } from '../node/fixtures.ts'
import { NOW, rejection, setupPki } from './fixtures.ts'
import type { Pki } from './fixtures.ts'
import type { SourceVerifier } from '../../src/dtn/verify-bundle.ts'

describe('dtn / mesh bundles: create, sign, parse, verify', function () {
  let pki: Pki
  let sources: SourceVerifier

  before(async () => {
    pki = await setupPki()
    sources = { verifier: verifierFor(pki.tca), isRevoked: () => false }
  })
  after(async () => { await pki.close() })

  const ctx = (p: Pki['a'], extra: Record<string, unknown> = {}): any => ({ signer: p.credentials.signer, chain: p.chain, createdAt: NOW, sequence: 7, ...extra })

  it('creates a whole bundle whose fields read back, aligned with the BPv7 primary block', async () => {
    const payload = Buffer.from('anomaly signature 42')
    const created = await createBundle({ destination: 'node-b', ttlSec: 600, payload }, ctx(pki.a))
    expect(created.parts).to.have.lengthOf(1)
    expect(created.fragmented).to.equal(false)
    const b = parseBundle(created.parts[0].bytes)
    expect(b.id).to.deep.equal({ source: 'node-a', createdAt: NOW, sequence: 7 })
    expect(b.destination).to.equal('node-b')
    expect(b.ttlSec).to.equal(600)
    expect(b.expiresAt).to.equal(NOW + 600_000)
    expect(b.hopCount).to.equal(0)
    expect(b.hopLimit).to.equal(32)
    expect(b.fragment).to.equal(undefined)
    expect(Buffer.from(b.payload).equals(payload)).to.equal(true)
    expect(Buffer.from(b.aduDigest).equals(sha256(payload))).to.equal(true)
    expect(b.decoded.primary.crcType).to.equal(2)
    const identity = await verifyBundleSource(NOW, b, sources)
    expect(identity.nodeId).to.equal('node-a')
  })

  it('signs with an Ed25519 identity key as well', async () => {
    const created = await createBundle({ destination: BROADCAST, ttlSec: 60, payload: new Uint8Array(10) }, ctx(pki.e))
    const b = parseBundle(created.parts[0].bytes)
    expect(b.destination).to.equal(BROADCAST)
    expect((await verifyBundleSource(NOW, b, sources)).nodeId).to.equal('node-e')
  })

  it('bundle_id text round-trips', () => {
    const id = { source: 'node-a', createdAt: NOW, sequence: 3 }
    expect(parseBundleId(formatBundleId(id))).to.deep.equal(id)
  })

  it('raising the hop count (what relays do) keeps the source signature valid', async () => {
    const created = await createBundle({ destination: 'node-c', ttlSec: 60, payload: Buffer.from('x') }, ctx(pki.a))
    const moved = parseBundle(setHopCount(created.parts[0].bytes, 5))
    expect(moved.hopCount).to.equal(5)
    expect((await verifyBundleSource(NOW, moved, sources)).nodeId).to.equal('node-a')
  })

  it('fragments a 5 MiB payload into signed pieces that each fit the 64 KiB frame limit', async () => {
    const payload = randomBytes(5 * 1024 * 1024)
    const created = await createBundle({ destination: 'node-b', ttlSec: 600, payload }, ctx(pki.a))
    expect(created.fragmented).to.equal(true)
    expect(created.parts.length).to.be.greaterThan(80)
    let next = 0
    for (const part of created.parts) {
      expect(part.bytes.length + FRAME_ENVELOPE_BYTES).to.be.at.most(DEFAULT_MAX_FRAME_BYTES)
      const b = parseBundle(part.bytes)
      expect(b.fragment).to.deep.equal({ offset: next, totalLength: payload.length })
      next += b.payload.length
      await verifyBundleSource(NOW, b, sources)
    }
    expect(next).to.equal(payload.length)
  })

  it('clamps the TTL so that a bundle never outlives its signing certificate', async () => {
    // node-a's certificate was issued at NOW - 1 h for 24 h
    const created = await createBundle({ destination: 'node-b', ttlSec: 7 * 24 * 3600, payload: new Uint8Array(1) }, ctx(pki.a))
    expect(created.expiresAt).to.be.at.most(NOW + 23 * 3600_000)
    expect(created.ttlSec).to.be.lessThan(7 * 24 * 3600)
  })

  it('refuses a signer whose key is not the certificate key (SIGNER_FAILED)', async () => {
    const err = await rejection(createBundle({ destination: 'node-b', ttlSec: 60, payload: new Uint8Array(1) }, { ...ctx(pki.a), signer: pki.b.credentials.signer }))
    expect(err).to.include({ name: 'BundleError', code: 'SIGNER_FAILED' })
  })

  it('refuses bad requests (INVALID_REQUEST)', async () => {
    for (const req of [
      { destination: 'no/such node', ttlSec: 60, payload: new Uint8Array(1) },
      { destination: 'node-b', ttlSec: 0, payload: new Uint8Array(1) },
      { destination: 'node-b', ttlSec: 60, payload: new Uint8Array(1), hopLimit: 0 }
    ]) {
      expect(await rejection(createBundle(req, ctx(pki.a)))).to.include({ name: 'BundleError', code: 'INVALID_REQUEST' })
    }
  })
})
