import { expect } from 'aegir/chai'
import { decode } from 'cborg'
import { BLOCK_TYPE, decodeBundle, encodeCanonical, joinBlocks } from '../../src/dtn/bpv7.ts'
import { decodeItem } from '../../src/dtn/cbor-items.ts'
import { agentFor, Clock, craft, setupPki, tempStore } from './fixtures.ts'
import type { Pki, TempStore } from './fixtures.ts'

/**
 * Every CBOR item of a bundle is walked within a depth and item budget before cborg decodes it
 * (src/dtn/cbor-items.ts), including the data of a block, which the walk of the bundle around it
 * treats as an opaque byte string: cborg recurses once per level and has no depth limit.
 */

/** `depth` nested one-element arrays around a 0. */
function nested (depth: number): Uint8Array {
  const out = new Uint8Array(depth + 1).fill(0x81)
  out[depth] = 0x00
  return out
}

function catchOf (fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return err
  }
  return undefined
}

describe('dtn / cbor items: every decode is bounded in depth', function () {
  let pki: Pki
  let ts: TempStore
  before(async () => { pki = await setupPki() })
  after(async () => { await pki.close() })
  beforeEach(async () => { ts = await tempStore() })
  afterEach(async () => { await ts.destroy() })

  it('decodeItem refuses 60,000 nested arrays with MALFORMED_BUNDLE (plain cborg overflows its stack)', () => {
    const bomb = nested(60_000)
    expect(() => decode(bomb)).to.throw(RangeError)
    const err = catchOf(() => decodeItem(bomb))
    expect(err).to.include({ name: 'BundleError', code: 'MALFORMED_BUNDLE' })
    // refused by the walk's depth limit, not by a stack overflow caught on the way out
    expect((err as Error).cause).to.equal(undefined)
    // depth within the budget still decodes; trailing bytes are not one item
    expect(decodeItem(nested(3))).to.deep.equal([[[0]]])
    expect(() => decodeItem(Uint8Array.from([0x01, 0x02]))).to.throw().that.includes({ code: 'MALFORMED_BUNDLE' })
  })

  it('a bundle whose hop count block holds nested arrays is refused MALFORMED_BUNDLE; nothing is stored', async () => {
    const clock = new Clock()
    const b = await agentFor(pki.b, ts.store, pki.tca, clock)
    const good = await craft({ signer: pki.a, destSsp: '//node-b/' })
    const d = decodeBundle(good)
    const i = d.blocks.findIndex(x => x.type === BLOCK_TYPE.HOP_COUNT)
    const raw = d.rawBlocks.slice()
    raw[i] = encodeCanonical({ ...d.blocks[i], data: nested(50_000) })
    const hostile = joinBlocks(d.rawPrimary, raw)
    const err = await b.receive(hostile, { from: 'node-a' }).then(() => undefined, (e: unknown) => e)
    expect(err).to.include({ name: 'BundleError', code: 'MALFORMED_BUNDLE' })
    expect((err as Error).cause).to.not.be.instanceOf(RangeError)
    expect(b.store.usage.entries).to.equal(0)
    expect(await b.store.listInbox(clock.now())).to.deep.equal([])
    await b.store.close()
  })
})
