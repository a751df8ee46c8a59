import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { decodeAsb, verifyBibHmacSha2 } from '../../src/dtn/bpsec.ts'
import { BLOCK_TYPE, decodeBundle, encodeCanonical, encodePrimary, joinBlocks } from '../../src/dtn/bpv7.ts'
import { crc16X25, crc32c } from '../../src/dtn/crc.ts'
import { eidToString } from '../../src/dtn/eid.ts'
import { vectorsDir } from '../pki/vectors/locate.ts'

/**
 * RFC 9173 Appendix A bundles (../shared/vectors/bpsec/rfc9173.json) through our generic BPv7
 * decoder: every block parses, our encoder reproduces every block byte for byte, and the
 * BIB-HMAC-SHA2 results verify with the given keys.
 *
 * Rule for what is skipped here: blocks a BCB encrypts (A.2's payload, A.4's payload and BIB) are
 * parsed as blocks but their contents are not checked; bcb-vectors.spec.ts decrypts and rebuilds
 * them.
 */
interface Vector { bundle_hex: string, len: number, keys: Array<{ kid: string, alg: string, k: string }> }
const vectors = JSON.parse(readFileSync(join(vectorsDir(), 'bpsec', 'rfc9173.json'), 'utf8')) as Record<string, Vector>

function bytesOf (v: Vector): Uint8Array {
  return Uint8Array.from(Buffer.from(v.bundle_hex, 'hex'))
}

/** Blocks some BCB of the bundle encrypts (their data is ciphertext). */
function encryptedTargets (bundle: ReturnType<typeof decodeBundle>): Set<number> {
  const out = new Set<number>()
  for (const b of bundle.blocks) { if (b.type === BLOCK_TYPE.BCB) { for (const t of decodeAsb(b.data).targets) { out.add(t) } } }
  return out
}

describe('dtn / BPv7 against the RFC 9173 examples', () => {
  it('has the four examples', () => {
    expect(Object.keys(vectors)).to.have.lengthOf(4)
  })

  for (const [name, v] of Object.entries(vectors)) {
    describe(name, () => {
      it('decodes: primary block fields and a payload block last', () => {
        const bytes = bytesOf(v)
        expect(bytes.length).to.equal(v.len)
        const b = decodeBundle(bytes)
        expect(b.primary.version).to.equal(7)
        expect(eidToString(b.primary.destination)).to.equal('ipn:1.2')
        expect(eidToString(b.primary.source)).to.equal('ipn:2.1')
        expect(eidToString(b.primary.reportTo)).to.equal('ipn:2.1')
        expect(b.primary.creationTime).to.equal(0)
        expect(b.primary.sequence).to.equal(40)
        expect(b.primary.lifetimeMs).to.equal(1_000_000)
        expect(b.primary.fragment).to.equal(undefined)
        const payload = b.blocks[b.blocks.length - 1]
        expect(payload.type).to.equal(BLOCK_TYPE.PAYLOAD)
        expect(payload.number).to.equal(1)
        if (!encryptedTargets(b).has(1)) {
          expect(Buffer.from(payload.data).toString('utf8')).to.equal('Ready to generate a 32-byte payload')
        }
      })

      it('re-encodes every block byte for byte', () => {
        const bytes = bytesOf(v)
        const b = decodeBundle(bytes)
        expect(Buffer.from(encodePrimary(b.primary)).equals(b.rawPrimary)).to.equal(true)
        b.blocks.forEach((block, i) => {
          expect(Buffer.from(encodeCanonical(block)).equals(b.rawBlocks[i])).to.equal(true)
        })
        expect(Buffer.from(joinBlocks(b.rawPrimary, b.rawBlocks)).equals(bytes)).to.equal(true)
      })

      it('decodes every security block that is not itself encrypted', () => {
        const b = decodeBundle(bytesOf(v))
        const encrypted = encryptedTargets(b)
        for (const block of b.blocks) {
          if (block.type !== BLOCK_TYPE.BIB && block.type !== BLOCK_TYPE.BCB) { continue }
          if (encrypted.has(block.number)) { continue }
          const asb = decodeAsb(block.data)
          expect(asb.contextId).to.equal(block.type === BLOCK_TYPE.BIB ? 1 : 2)
          expect(asb.results).to.have.lengthOf(asb.targets.length)
        }
      })
    })
  }

  it('A.1: BIB-HMAC-SHA2 (HMAC-512) verifies over the payload, and fails once a byte changes', () => {
    const v = vectors.rfc9173_appendix_a_1
    const key = Buffer.from(v.keys[0].k, 'base64url')
    const bytes = bytesOf(v)
    expect(verifyBibHmacSha2(decodeBundle(bytes), 2, key)).to.deep.equal([true])
    const tampered = bytes.slice()
    tampered[tampered.length - 2] ^= 1 // last payload byte
    expect(verifyBibHmacSha2(decodeBundle(tampered), 2, key)).to.deep.equal([false])
  })

  it('A.3: BIB-HMAC-SHA2 (HMAC-256) verifies over the primary block and the bundle age block', () => {
    const v = vectors.rfc9173_appendix_a_3
    const key = Buffer.from(v.keys.find(k => k.alg === 'HS256')?.k ?? '', 'base64url')
    const b = decodeBundle(bytesOf(v))
    const bib = b.blocks.find(x => x.type === BLOCK_TYPE.BIB)
    expect(decodeAsb(bib?.data ?? new Uint8Array()).targets).to.deep.equal([0, 2])
    expect(verifyBibHmacSha2(b, bib?.number ?? -1, key)).to.deep.equal([true, true])
    expect(verifyBibHmacSha2(b, bib?.number ?? -1, Buffer.alloc(16))).to.deep.equal([false, false])
  })

  it('CRC check values of RFC 9171 §4.2.1 (CRC-16 X.25, CRC-32C)', () => {
    const check = Buffer.from('123456789')
    expect(crc16X25(check)).to.equal(0x906e)
    expect(crc32c(check)).to.equal(0xe3069283)
  })
})
