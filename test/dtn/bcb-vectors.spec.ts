import { createHmac } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { addBcb, sealBcb } from '../../src/dtn/add-bcb.ts'
import { unwrapKey } from '../../src/dtn/aes-key-wrap.ts'
import { AES_VARIANT } from '../../src/dtn/bcb-aes-gcm.ts'
import { BcbError } from '../../src/dtn/bcb-errors.ts'
import { buildIppt, decodeAsb, encodeAsb, verifyBibHmacSha2 } from '../../src/dtn/bpsec.ts'
import { BLOCK_TYPE, decodeBundle, encodeCanonical, joinBlocks } from '../../src/dtn/bpv7.ts'
import { openBcb } from '../../src/dtn/open-bcb.ts'
import { vectorsDir } from '../pki/vectors/locate.ts'
import type { AbstractSecurityBlock } from '../../src/dtn/bpsec.ts'

/**
 * RFC 9173 Appendix A examples with a BCB (../shared/vectors/bpsec/rfc9173.json): each is rebuilt
 * byte for byte from its plaintext bundle and its keys and IV, and opened back to that plaintext.
 * The file holds the key-encryption key of A.2, the direct content key of A.3 and the HMAC key of
 * A.4; the A.2 content key (the same bytes as A.3's) is unwrapped from A.2 itself, the IV and the
 * A.4 AES-256 key are the RFC's text (A.2.3, A.4.3).
 */
interface Vector { bundle_hex: string, len: number, keys: Array<{ kid: string, alg: string, k: string }> }
const vectors = JSON.parse(readFileSync(join(vectorsDir(), 'bpsec', 'rfc9173.json'), 'utf8')) as Record<string, Vector>

const PAYLOAD = Buffer.from('Ready to generate a 32-byte payload')
const IV = Buffer.from('Twelve121212')
/** RFC 9173 A.4.3: the AES-256 content key, "qwertyuiopasdfgh" twice. */
const A4_CONTENT_KEY = Buffer.from('qwertyuiopasdfghqwertyuiopasdfgh')
const SOURCE = { scheme: 'ipn' as const, node: 2, service: 1 }

function bytesOf (v: Vector): Uint8Array {
  return Uint8Array.from(Buffer.from(v.bundle_hex, 'hex'))
}

function key (v: Vector, alg: string): Buffer {
  const k = v.keys.find(x => x.alg === alg)
  if (k == null) { throw new Error(`no ${alg} key in the vector`) }
  return Buffer.from(k.k, 'base64url')
}

function hex (b: Uint8Array): string {
  return Buffer.from(b).toString('hex')
}

const payloadBlock = encodeCanonical({ type: BLOCK_TYPE.PAYLOAD, number: 1, flags: 0, crcType: 0, data: PAYLOAD })

/** The A.4 bundle before its BCB: primary, a BIB-HMAC-SHA2 (HMAC-384, scope 7) as block 3, the payload. */
function a4Plaintext (hmacKey: Uint8Array): Uint8Array {
  const rawPrimary = decodeBundle(bytesOf(vectors.rfc9173_appendix_a_4)).rawPrimary
  const bib = (hmac: Uint8Array): AbstractSecurityBlock => ({ targets: [1], contextId: 1, source: SOURCE, params: [[1, 6], [3, 7]], results: [[[1, hmac]]] })
  const withBib = (hmac: Uint8Array): Uint8Array => joinBlocks(rawPrimary, [
    encodeCanonical({ type: BLOCK_TYPE.BIB, number: 3, flags: 0, crcType: 0, data: encodeAsb(bib(hmac)) }), payloadBlock
  ])
  const ippt = buildIppt(decodeBundle(withBib(new Uint8Array(48))), 1, 3, 7)
  return withBib(createHmac('sha384', hmacKey).update(ippt).digest())
}

describe('dtn / BCB-AES-GCM against the RFC 9173 examples', () => {
  it('A.2: the KEK of the file unwraps the wrapped key to the content key of A.3', () => {
    const bcb = decodeBundle(bytesOf(vectors.rfc9173_appendix_a_2)).blocks[0]
    const wrapped = decodeAsb(bcb.data).params?.find(([id]) => id === 3)?.[1] as Uint8Array
    expect(hex(unwrapKey(key(vectors.rfc9173_appendix_a_2, 'A128KW'), wrapped))).to.equal(hex(key(vectors.rfc9173_appendix_a_3, 'dir')))
  })

  it('A.2: addBcb rebuilds the bundle byte for byte (A128GCM, wrapped key, AAD scope 0)', () => {
    const v = vectors.rfc9173_appendix_a_2
    const rawPrimary = decodeBundle(bytesOf(v)).rawPrimary
    const plain = joinBlocks(rawPrimary, [payloadBlock])
    const out = addBcb(plain, {
      targets: [1], kek: key(v, 'A128KW'), contentKey: key(vectors.rfc9173_appendix_a_3, 'dir'), iv: IV, variant: AES_VARIANT.A128GCM, aadScope: 0
    })
    expect(out.length).to.equal(v.len)
    expect(hex(out)).to.equal(v.bundle_hex)
  })

  it('A.2: openBcb with the KEK gives the plaintext bundle back', () => {
    const v = vectors.rfc9173_appendix_a_2
    const opened = openBcb(bytesOf(v), { kek: key(v, 'A128KW') })
    expect(opened.decrypted).to.deep.equal([1])
    const b = decodeBundle(opened.bytes)
    expect(b.blocks.map(x => x.type)).to.deep.equal([BLOCK_TYPE.PAYLOAD])
    expect(Buffer.from(b.blocks[0].data).equals(PAYLOAD)).to.equal(true)
  })

  it('A.3: a direct content key (no wrapped key) opens the BCB, and addBcb rebuilds it beside the BIB', () => {
    const v = vectors.rfc9173_appendix_a_3
    const opened = openBcb(bytesOf(v), { contentKey: key(v, 'dir') })
    expect(opened.decrypted).to.deep.equal([1])
    const b = decodeBundle(opened.bytes)
    expect(Buffer.from(b.blocks[b.blocks.length - 1].data).equals(PAYLOAD)).to.equal(true)
    // the BIB covers the primary block and the bundle age block only, so it stays in clear and verifies
    expect(verifyBibHmacSha2(b, 3, key(v, 'HS256'))).to.deep.equal([true, true])
    const again = addBcb(opened.bytes, { targets: [1], contentKey: key(v, 'dir'), iv: IV, variant: AES_VARIANT.A128GCM, aadScope: 0 })
    expect(hex(again)).to.equal(v.bundle_hex)
  })

  it('A.4: sealBcb rebuilds the BIB+BCB bundle byte for byte (A256GCM, full AAD scope, two targets)', () => {
    const v = vectors.rfc9173_appendix_a_4
    const plain = a4Plaintext(key(v, 'HS384'))
    expect(verifyBibHmacSha2(decodeBundle(plain), 3, key(v, 'HS384'))).to.deep.equal([true])
    const out = sealBcb(plain, {
      number: 2, targets: [3, 1], contentKey: A4_CONTENT_KEY, iv: IV, variant: AES_VARIANT.A256GCM, aadScope: 7, source: SOURCE, allowIvReuse: true
    })
    expect(out.length).to.equal(v.len)
    expect(hex(out)).to.equal(v.bundle_hex)
  })

  it('A.4: openBcb decrypts the BIB and the payload, and the BIB then verifies', () => {
    const v = vectors.rfc9173_appendix_a_4
    const opened = openBcb(bytesOf(v), { contentKey: A4_CONTENT_KEY })
    expect(opened.decrypted).to.deep.equal([3, 1])
    expect(hex(opened.bytes)).to.equal(hex(a4Plaintext(key(v, 'HS384'))))
    expect(verifyBibHmacSha2(decodeBundle(opened.bytes), 3, key(v, 'HS384'))).to.deep.equal([true])
  })

  it('A.4: one BCB over two blocks reuses its key and IV, so sealBcb refuses it unless told (BCB_BAD_PARAMETERS)', () => {
    const plain = a4Plaintext(key(vectors.rfc9173_appendix_a_4, 'HS384'))
    const err = (() => {
      try {
        sealBcb(plain, { number: 2, targets: [3, 1], contentKey: A4_CONTENT_KEY, iv: IV, variant: AES_VARIANT.A256GCM, aadScope: 7, source: SOURCE })
      } catch (e) { return e }
    })()
    expect(err).to.be.instanceOf(BcbError)
    expect((err as BcbError).code).to.equal('BCB_BAD_PARAMETERS')
  })

  it('A.4 through addBcb: the payload and its BIB each get their own BCB and IV, and open back', () => {
    const v = vectors.rfc9173_appendix_a_4
    const plain = a4Plaintext(key(v, 'HS384'))
    const out = addBcb(plain, { targets: [1], contentKey: A4_CONTENT_KEY })
    const b = decodeBundle(out)
    const bcbs = b.blocks.filter(x => x.type === BLOCK_TYPE.BCB).map(x => decodeAsb(x.data))
    expect(bcbs.map(a => a.targets)).to.deep.equal([[1], [3]])
    const ivs = bcbs.map(a => hex(a.params?.find(([id]) => id === 1)?.[1] as Uint8Array))
    expect(ivs[0]).to.not.equal(ivs[1])
    const opened = openBcb(out, { contentKey: A4_CONTENT_KEY })
    expect(opened.decrypted.sort()).to.deep.equal([1, 3])
    expect(verifyBibHmacSha2(decodeBundle(opened.bytes), 3, key(v, 'HS384'))).to.deep.equal([true])
  })
})
