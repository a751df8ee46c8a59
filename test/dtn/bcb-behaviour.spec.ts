import { randomBytes } from 'node:crypto'
import { expect } from 'aegir/chai'
import { addBcb } from '../../src/dtn/add-bcb.ts'
import { AES_VARIANT, BCB_AES_GCM, buildAad, encodeBcbParams, gcmSeal } from '../../src/dtn/bcb-aes-gcm.ts'
import { BcbError } from '../../src/dtn/bcb-errors.ts'
import { decodeAsb, encodeAsb } from '../../src/dtn/bpsec.ts'
import { BLOCK_TYPE, BUNDLE_FLAG, decodeBundle, encodeCanonical, encodePrimary, joinBlocks } from '../../src/dtn/bpv7.ts'
import { BundleError } from '../../src/dtn/errors.ts'
import { openBcb } from '../../src/dtn/open-bcb.ts'
import type { AbstractSecurityBlock } from '../../src/dtn/bpsec.ts'
import type { CanonicalBlock, PrimaryBlock } from '../../src/dtn/bpv7.ts'

/**
 * What a BCB promises and refuses, each refusal by its exact code: no plaintext in the stored
 * bytes, the destination reads it back, and any change to ciphertext, tag, IV or an AAD-covered
 * header, a wrong key, or a layout RFC 9172 forbids, is refused.
 */

const MARKER = Buffer.from('MARKER-7f3c9e-the-relay-must-never-see-this')
const SOURCE = { scheme: 'ipn' as const, node: 2, service: 1 }
const PRIMARY: PrimaryBlock = {
  version: 7,
  flags: 0,
  crcType: 2,
  destination: { scheme: 'ipn', node: 1, service: 2 },
  source: SOURCE,
  reportTo: SOURCE,
  creationTime: 0,
  sequence: 40,
  lifetimeMs: 1_000_000
}

function block (type: number, number: number, data: Uint8Array, flags = 0): CanonicalBlock {
  return { type, number, flags, crcType: 2, data }
}

/** A BIB-HMAC-SHA2 ASB over `targets` (its MACs are zeros: only the layout matters here). */
function bibOver (targets: number[]): Uint8Array {
  return encodeAsb({ targets, contextId: 1, source: SOURCE, params: [[1, 5], [3, 7]], results: targets.map(() => [[1, new Uint8Array(32)]]) })
}

function bundleOf (blocks: CanonicalBlock[], primary = PRIMARY): Uint8Array {
  return joinBlocks(encodePrimary(primary), blocks.map(encodeCanonical))
}

/** A bundle with an extension block (type 193, number 2) and the marker as payload. */
function plainBundle (): Uint8Array {
  return bundleOf([block(193, 2, Buffer.from('extension')), block(BLOCK_TYPE.PAYLOAD, 1, MARKER)])
}

/** Decodes, lets `fn` change the blocks, re-encodes every block (CRCs recomputed, so only the crypto can object). */
function edit (bytes: Uint8Array, fn: (blocks: CanonicalBlock[]) => void, primary?: PrimaryBlock): Uint8Array {
  const b = decodeBundle(bytes)
  const blocks = b.blocks.map(x => ({ ...x, data: Uint8Array.from(x.data) }))
  fn(blocks)
  return joinBlocks(primary == null ? b.rawPrimary : encodePrimary(primary), blocks.map(encodeCanonical))
}

function bcbOf (blocks: CanonicalBlock[]): CanonicalBlock {
  const bcb = blocks.find(x => x.type === BLOCK_TYPE.BCB)
  if (bcb == null) { throw new Error('no BCB') }
  return bcb
}

function editBcb (bytes: Uint8Array, fn: (asb: AbstractSecurityBlock) => void): Uint8Array {
  return edit(bytes, blocks => {
    const bcb = bcbOf(blocks)
    const asb = decodeAsb(bcb.data)
    fn(asb)
    bcb.data = encodeAsb(asb)
  })
}

/** The first BCB's block flags set to `flags`. */
function withBcbFlags (bytes: Uint8Array, flags: number): Uint8Array {
  return edit(bytes, blocks => { bcbOf(blocks).flags = flags })
}

function failure (fn: () => unknown): any {
  try {
    fn()
  } catch (err) {
    return err
  }
  throw new Error('expected a refusal')
}

function expectBcbCode (fn: () => unknown, code: string): void {
  const err = failure(fn)
  expect(err, String(err)).to.be.instanceOf(BcbError)
  expect(err.code, err.message).to.equal(code)
}

function payloadOf (bytes: Uint8Array): Buffer {
  const b = decodeBundle(bytes)
  return Buffer.from(b.blocks[b.blocks.length - 1].data)
}

describe('dtn / BCB-AES-GCM behaviour', () => {
  const kek = randomBytes(32)

  describe('confidentiality', () => {
    it('a bundle stored after BCB has no plaintext: the marker bytes are absent from its encoding', () => {
      const stored = addBcb(plainBundle(), { targets: [1, 2], kek })
      expect(Buffer.from(stored).includes(MARKER)).to.equal(false)
      expect(Buffer.from(stored).includes(MARKER.subarray(0, 8))).to.equal(false)
      expect(Buffer.from(stored).includes(Buffer.from('extension'))).to.equal(false)
    })

    it('the destination reads the bundle: openBcb restores every block and removes the BCBs', () => {
      const plain = plainBundle()
      const opened = openBcb(addBcb(plain, { targets: [1, 2], kek }), { kek })
      expect(opened.decrypted).to.deep.equal([1, 2])
      expect(Buffer.from(opened.bytes).equals(Buffer.from(plain))).to.equal(true)
    })

    it('with a KEK each BCB carries its own wrapped content key, IV and tag; A256GCM by default', () => {
      const b = decodeBundle(addBcb(plainBundle(), { targets: [1, 2], kek }))
      const asbs = b.blocks.filter(x => x.type === BLOCK_TYPE.BCB).map(x => decodeAsb(x.data))
      expect(asbs).to.have.lengthOf(2)
      for (const a of asbs) {
        expect(a.contextId).to.equal(BCB_AES_GCM)
        expect(a.params?.map(([id]) => id)).to.deep.equal([1, 2, 3, 4])
        expect(a.params?.[1][1]).to.equal(AES_VARIANT.A256GCM)
        expect((a.params?.[2][1] as Uint8Array).length).to.equal(40)
      }
      expect(Buffer.from(asbs[0].params?.[2][1] as Uint8Array).equals(asbs[1].params?.[2][1] as Uint8Array)).to.equal(false)
    })

    it('a content key from an outside key agreement: no wrapped-key parameter, and it opens with that key', () => {
      const contentKey = randomBytes(16)
      const out = addBcb(plainBundle(), { targets: [1], contentKey, variant: AES_VARIANT.A128GCM })
      const bcb = decodeBundle(out).blocks.find(x => x.type === BLOCK_TYPE.BCB)
      expect(decodeAsb(bcb?.data ?? new Uint8Array()).params?.map(([id]) => id)).to.deep.equal([1, 2, 4])
      expect(payloadOf(openBcb(out, { contentKey }).bytes).equals(MARKER)).to.equal(true)
    })

    it('a BIB over the payload is encrypted with it, in a BCB of its own', () => {
      const signed = bundleOf([block(BLOCK_TYPE.BIB, 3, bibOver([1])), block(BLOCK_TYPE.PAYLOAD, 1, MARKER)])
      const b = decodeBundle(addBcb(signed, { targets: [1], kek }))
      const targets = b.blocks.filter(x => x.type === BLOCK_TYPE.BCB).map(x => decodeAsb(x.data).targets)
      expect(targets).to.deep.equal([[1], [3]])
    })
  })

  describe('tampering is refused', () => {
    const stored = addBcb(plainBundle(), { targets: [1], kek })

    it('a changed ciphertext byte: BCB_TAG_MISMATCH', () => {
      const bad = edit(stored, blocks => { blocks[blocks.length - 1].data[3] ^= 1 })
      expectBcbCode(() => openBcb(bad, { kek }), 'BCB_TAG_MISMATCH')
    })

    it('a changed tag: BCB_TAG_MISMATCH', () => {
      const bad = editBcb(stored, asb => { (asb.results[0][0][1] as Uint8Array)[0] ^= 1 })
      expectBcbCode(() => openBcb(bad, { kek }), 'BCB_TAG_MISMATCH')
    })

    it('a changed IV: BCB_TAG_MISMATCH', () => {
      const bad = editBcb(stored, asb => { (asb.params?.[0][1] as Uint8Array)[0] ^= 1 })
      expectBcbCode(() => openBcb(bad, { kek }), 'BCB_TAG_MISMATCH')
    })

    it('a changed target header (payload flags), covered by the AAD: BCB_TAG_MISMATCH', () => {
      const bad = edit(stored, blocks => { blocks[blocks.length - 1].flags = 0x02 })
      expectBcbCode(() => openBcb(bad, { kek }), 'BCB_TAG_MISMATCH')
    })

    it('a changed primary block (lifetime), covered by the AAD: BCB_TAG_MISMATCH', () => {
      const bad = edit(stored, () => {}, { ...PRIMARY, lifetimeMs: 2_000_000 })
      expectBcbCode(() => openBcb(bad, { kek }), 'BCB_TAG_MISMATCH')
    })

    it('a changed BCB header (its flags), covered by the AAD: BCB_TAG_MISMATCH', () => {
      expectBcbCode(() => openBcb(withBcbFlags(stored, 0x03), { kek }), 'BCB_TAG_MISMATCH')
    })

    it('with AAD scope 0 the headers are outside the AAD: the same header change still opens', () => {
      const loose = addBcb(plainBundle(), { targets: [1], kek, aadScope: 0 })
      const changed = edit(loose, blocks => { blocks[blocks.length - 1].flags = 0x02 })
      expect(payloadOf(openBcb(changed, { kek }).bytes).equals(MARKER)).to.equal(true)
    })

    it('a changed wrapped key: BCB_UNWRAP_FAILED', () => {
      const bad = editBcb(stored, asb => { (asb.params?.[2][1] as Uint8Array)[5] ^= 1 })
      expectBcbCode(() => openBcb(bad, { kek }), 'BCB_UNWRAP_FAILED')
    })
  })

  describe('keys', () => {
    const stored = addBcb(plainBundle(), { targets: [1], kek })

    it('a wrong KEK: BCB_UNWRAP_FAILED', () => {
      expectBcbCode(() => openBcb(stored, { kek: randomBytes(32) }), 'BCB_UNWRAP_FAILED')
    })

    it('a wrong content key: BCB_TAG_MISMATCH', () => {
      const direct = addBcb(plainBundle(), { targets: [1], contentKey: randomBytes(32) })
      expectBcbCode(() => openBcb(direct, { contentKey: randomBytes(32) }), 'BCB_TAG_MISMATCH')
    })

    it('a wrapped key and only a content key, or no wrapped key and only a KEK: BCB_NO_KEY', () => {
      expectBcbCode(() => openBcb(stored, { contentKey: randomBytes(32) }), 'BCB_NO_KEY')
      const direct = addBcb(plainBundle(), { targets: [1], contentKey: randomBytes(32) })
      expectBcbCode(() => openBcb(direct, { kek }), 'BCB_NO_KEY')
    })

    it('unusable options: no key, a content key of the wrong size, a fixed IV for several blocks, a bad KEK size: BCB_BAD_PARAMETERS', () => {
      expectBcbCode(() => addBcb(plainBundle(), { targets: [1] }), 'BCB_BAD_PARAMETERS')
      expectBcbCode(() => addBcb(plainBundle(), { targets: [1], contentKey: randomBytes(16) }), 'BCB_BAD_PARAMETERS')
      expectBcbCode(() => addBcb(plainBundle(), { targets: [1, 2], kek, iv: randomBytes(12) }), 'BCB_BAD_PARAMETERS')
      expectBcbCode(() => addBcb(plainBundle(), { targets: [1], kek: randomBytes(20) }), 'BCB_BAD_PARAMETERS')
    })
  })

  describe('RFC 9172 rules on add', () => {
    it('the primary block, a missing block, a block twice or already encrypted: BCB_RULE_VIOLATION', () => {
      expectBcbCode(() => addBcb(plainBundle(), { targets: [0], kek }), 'BCB_RULE_VIOLATION')
      expectBcbCode(() => addBcb(plainBundle(), { targets: [9], kek }), 'BCB_RULE_VIOLATION')
      expectBcbCode(() => addBcb(plainBundle(), { targets: [1, 1], kek }), 'BCB_RULE_VIOLATION')
      const once = addBcb(plainBundle(), { targets: [1], kek })
      expectBcbCode(() => addBcb(once, { targets: [1], kek }), 'BCB_RULE_VIOLATION')
    })

    it('a BCB or a BIB named alone: BCB_RULE_VIOLATION', () => {
      const once = addBcb(plainBundle(), { targets: [1], kek })
      const bcbNumber = decodeBundle(once).blocks.find(x => x.type === BLOCK_TYPE.BCB)?.number ?? -1
      expectBcbCode(() => addBcb(once, { targets: [bcbNumber], kek }), 'BCB_RULE_VIOLATION')
      const signed = bundleOf([block(BLOCK_TYPE.BIB, 3, bibOver([1])), block(BLOCK_TYPE.PAYLOAD, 1, MARKER)])
      expectBcbCode(() => addBcb(signed, { targets: [3], kek }), 'BCB_RULE_VIOLATION')
    })

    it('a BIB that also covers a block left in clear (a §3.9 split), or the primary block: BCB_RULE_VIOLATION', () => {
      const partial = bundleOf([block(BLOCK_TYPE.BIB, 3, bibOver([1, 2])), block(193, 2, Buffer.from('x')), block(BLOCK_TYPE.PAYLOAD, 1, MARKER)])
      expectBcbCode(() => addBcb(partial, { targets: [1], kek }), 'BCB_RULE_VIOLATION')
      expect(decodeBundle(addBcb(partial, { targets: [1, 2], kek })).blocks.filter(x => x.type === BLOCK_TYPE.BCB)).to.have.lengthOf(3)
      const primaryToo = bundleOf([block(BLOCK_TYPE.BIB, 3, bibOver([0, 1])), block(BLOCK_TYPE.PAYLOAD, 1, MARKER)])
      expectBcbCode(() => addBcb(primaryToo, { targets: [1], kek }), 'BCB_RULE_VIOLATION')
    })

    it('a fragment: BCB_RULE_VIOLATION (§5.2)', () => {
      const fragment = bundleOf([block(BLOCK_TYPE.PAYLOAD, 1, MARKER)], { ...PRIMARY, flags: BUNDLE_FLAG.IS_FRAGMENT, fragment: { offset: 0, totalAduLength: 100 } })
      expectBcbCode(() => addBcb(fragment, { targets: [1], kek }), 'BCB_RULE_VIOLATION')
    })
  })

  describe('RFC 9172 rules and parameters on open', () => {
    const stored = addBcb(plainBundle(), { targets: [1], kek })

    it('a BCB over the primary block or over a missing block: BCB_RULE_VIOLATION, before any key is used', () => {
      for (const target of [0, 7]) {
        const bad = editBcb(stored, asb => { asb.targets = [target] })
        expectBcbCode(() => openBcb(bad, { kek: new Uint8Array(16) }), 'BCB_RULE_VIOLATION')
      }
    })

    it('a BCB over the payload without "replicate in every fragment": BCB_RULE_VIOLATION', () => {
      expectBcbCode(() => openBcb(withBcbFlags(stored, 0), { kek }), 'BCB_RULE_VIOLATION')
    })

    it('a BIB in clear over an encrypted block: BCB_RULE_VIOLATION', () => {
      const bad = edit(stored, blocks => { blocks.unshift(block(BLOCK_TYPE.BIB, 9, bibOver([1]))) })
      expectBcbCode(() => openBcb(bad, { kek }), 'BCB_RULE_VIOLATION')
    })

    it('a BCB over a BIB whose target stayed in clear: BCB_RULE_VIOLATION once the BIB is read', () => {
      // built by hand: addBcb never makes this layout
      const contentKey = randomBytes(32)
      const iv = randomBytes(12)
      const b = decodeBundle(bundleOf([block(BLOCK_TYPE.BIB, 3, bibOver([1])), block(BLOCK_TYPE.PAYLOAD, 1, MARKER)]))
      const header = { type: BLOCK_TYPE.BCB, number: 2, flags: 1 }
      const bib = b.blocks[0]
      const { ciphertext, tag } = gcmSeal(AES_VARIANT.A256GCM, contentKey, iv, buildAad(b.rawPrimary, bib, header, 7), bib.data)
      const asb: AbstractSecurityBlock = {
        targets: [3], contextId: BCB_AES_GCM, source: SOURCE, params: encodeBcbParams({ iv, variant: AES_VARIANT.A256GCM, aadScope: 7 }), results: [[[1, tag]]]
      }
      const bad = joinBlocks(b.rawPrimary, [
        encodeCanonical({ ...bib, data: ciphertext }), encodeCanonical({ ...header, crcType: 0, data: encodeAsb(asb) }), b.rawBlocks[1]
      ])
      expectBcbCode(() => openBcb(bad, { contentKey }), 'BCB_RULE_VIOLATION')
    })

    it('another security context: BCB_UNSUPPORTED_CONTEXT', () => {
      const other = editBcb(stored, asb => { asb.contextId = 3 })
      expectBcbCode(() => openBcb(other, { kek }), 'BCB_UNSUPPORTED_CONTEXT')
    })

    it('no IV, an unknown parameter, a bad AES variant, unknown scope bits, a value of the wrong type or size, a bad tag: BCB_BAD_PARAMETERS', () => {
      const cases: Array<(asb: AbstractSecurityBlock) => void> = [
        asb => { asb.params = asb.params?.filter(([id]) => id !== 1) },
        asb => { asb.params?.push([9, 1]) },
        asb => { if (asb.params != null) { asb.params[1] = [2, 2] } },
        asb => { if (asb.params != null) { asb.params[3] = [4, 8] } },
        asb => { if (asb.params != null) { asb.params[3] = [4, 2 ** 32 + 1] } },
        asb => { if (asb.params != null) { asb.params[0] = [1, 'Twelve121212'] } },
        asb => { if (asb.params != null) { asb.params[1] = [2, 'A256GCM'] } },
        asb => { if (asb.params != null) { asb.params[2] = [3, new Uint8Array(24)] } },
        asb => { asb.results = [[[1, new Uint8Array(12)]]] },
        asb => { asb.results = [[[2, new Uint8Array(16)]]] }
      ]
      for (const change of cases) {
        const bad = editBcb(stored, change)
        expectBcbCode(() => openBcb(bad, { kek }), 'BCB_BAD_PARAMETERS')
      }
    })

    it('a BCB whose ASB does not decode (17 targets, past the bound): BundleError MALFORMED_BUNDLE', () => {
      const tooMany = editBcb(stored, asb => {
        asb.targets = Array.from({ length: 17 }, (_, i) => i + 1)
        asb.results = asb.targets.map(() => asb.results[0])
      })
      const err = failure(() => openBcb(tooMany, { kek }))
      expect(err).to.be.instanceOf(BundleError)
      expect(err.code).to.equal('MALFORMED_BUNDLE')
    })

    it('a bundle without BCB comes back unchanged', () => {
      const plain = plainBundle()
      const opened = openBcb(plain, { kek })
      expect(opened.decrypted).to.deep.equal([])
      expect(opened.bytes).to.equal(plain)
    })
  })
})
