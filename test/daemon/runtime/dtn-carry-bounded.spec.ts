import { expect } from 'aegir/chai'
import { decode } from 'cborg'
import { pino } from 'pino'
import { BundleService } from '../../../protocols/bundle/bundle-service.ts'
import { CARRY_MAGIC, CarryError, decodeCarry, encodeCarry, startDtnCarry } from '../../../src/daemon/runtime/dtn-carry.ts'
import { NodeBundles } from '../../../src/daemon/runtime/dtn.ts'
import { ChainVerifier } from '../../../src/pki/chain-verifier.ts'
import { agentFor, Clock, craft, setupPki, tempStore } from '../../dtn/fixtures.ts'
import { startNode, waitForEvent } from '../../node/fixtures.ts'
import type { CarryRefusal } from '../../../src/daemon/runtime/dtn-carry.ts'
import type { DeliveredBundle } from '../../../src/dtn/bundle-agent.ts'
import type { MeshNode } from '../../../src/node/index.ts'
import type { Pki, TempStore } from '../../dtn/fixtures.ts'

/**
 * Carried gossip and CRLs are decoded with a depth and item limit (src/util/bounded-cbor.ts): a
 * payload that carries the carry prefix and then 100,000 nested arrays is refused with a typed
 * error after a few bytes, never reaches cborg's recursion, is never handed to the application
 * as its own bundle, and leaves nothing in the inbox.
 */

/** The carry prefix, then `depth` nested one-element arrays around a 0. */
function nestingBomb (depth: number): Uint8Array {
  const out = new Uint8Array(CARRY_MAGIC.length + depth + 1).fill(0x81)
  out.set(CARRY_MAGIC, 0)
  out[out.length - 1] = 0x00
  return out
}

describe('node runtime / dtn-carry: every carried payload is decoded within bounds', function () {
  it('100,000 nested arrays after the carry prefix: CarryError CARRY_MALFORMED, no stack overflow', () => {
    const bomb = nestingBomb(100_000)
    // what plain cborg does with it: recursion until the stack gives out
    expect(() => decode(bomb.subarray(CARRY_MAGIC.length))).to.throw(RangeError)
    let err: unknown
    try {
      decodeCarry(bomb)
    } catch (e) {
      err = e
    }
    expect(err).to.be.instanceOf(CarryError)
    expect(err).to.include({ name: 'CarryError', code: 'CARRY_MALFORMED' })
    // the bytes of a carried item nested inside the envelope are refused the same way
    const nestedInside = Buffer.concat([CARRY_MAGIC, Buffer.from([0xa2, 0x61, 0x74, 0x63, 0x63, 0x72, 0x6c, 0x61, 0x62]), Buffer.alloc(50_000, 0x81), Buffer.from([0x00])])
    expect(() => decodeCarry(nestedInside)).to.throw(CarryError).with.property('code', 'CARRY_MALFORMED')
    // over the largest carried item: never decoded
    const huge = Buffer.concat([CARRY_MAGIC, Buffer.alloc(2 * 1024 * 1024)])
    expect(() => decodeCarry(huge)).to.throw(CarryError).with.property('code', 'CARRY_TOO_LARGE')
    // well-formed items and application payloads are unchanged
    expect(decodeCarry(encodeCarry('crl', new Uint8Array([1, 2, 3])))).to.deep.equal({ kind: 'crl', bytes: new Uint8Array([1, 2, 3]) })
    expect(decodeCarry(Buffer.from('an application payload'))).to.equal(undefined)
  })

  describe('delivered to a node', function () {
    let pki: Pki
    let ts: TempStore
    let node: MeshNode
    const clock = new Clock()
    before(async () => { pki = await setupPki() })
    after(async () => { await pki.close() })
    beforeEach(async () => {
      ts = await tempStore()
      node = await startNode('carry-b', pki.b, pki.tca)
    })
    afterEach(async () => {
      await node.stop()
      await ts.destroy()
    })

    it('a signed bundle whose payload is the nesting bomb: refused (CARRY_MALFORMED), not delivered to the application, removed from the inbox', async () => {
      const agent = await agentFor(pki.b, ts.store, pki.tca, clock)
      const bundles = new NodeBundles(agent, new BundleService({ node, agent }), clock.now)
      const refusals: CarryRefusal[] = []
      let onRefused: (r: CarryRefusal) => void = () => {}
      const refused = new Promise<CarryRefusal>(resolve => { onRefused = resolve })
      const carry = startDtnCarry({
        node,
        bundles,
        chainVerifier: new ChainVerifier({ roots: [pki.tca.root] }),
        now: clock.now,
        log: pino({ level: 'silent' }),
        onRefused: (r) => {
          refusals.push(r)
          onRefused(r)
        }
      })
      const toApplication: DeliveredBundle[] = []
      bundles.addEventListener('bundle:delivered', (evt) => { toApplication.push(evt.detail) })
      try {
        const bytes = await craft({ signer: pki.a, destSsp: '//node-b/', sequence: 7, payload: nestingBomb(100_000) })
        const r = await agent.receive(bytes, { from: 'node-a' })
        expect(r.status).to.equal('accepted')
        const got = await refused
        expect(got).to.deep.equal({ bundleId: r.delivered?.bundleId, source: 'node-a', code: 'CARRY_MALFORMED' })
        expect(refusals).to.have.lengthOf(1)
        expect(carry.stats).to.include({ refused: 1, anomaliesAccepted: 0, crlsAccepted: 0 })
        expect(toApplication).to.have.lengthOf(0)
        expect(await agent.store.listInbox(clock.now())).to.deep.equal([])
        expect(agent.store.usage.entries).to.equal(0)
        // its seen id stays: offered again, it is a duplicate and nothing is kept
        expect((await agent.receive(bytes, { from: 'node-a' })).status).to.equal('duplicate')
        expect(agent.store.usage.entries).to.equal(0)
        // an ordinary application bundle still reaches the application
        const plain = waitForEvent<DeliveredBundle>(bundles, 'bundle:delivered')
        await agent.receive(await craft({ signer: pki.a, destSsp: '//node-b/', sequence: 8, payload: Buffer.from('hello') }), { from: 'node-a' })
        expect(Buffer.from((await plain).payload).toString()).to.equal('hello')
      } finally {
        carry.stop()
        await bundles.stop()
        await agent.store.close()
      }
    })
  })
})
