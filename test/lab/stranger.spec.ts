import { expect } from 'aegir/chai'
import { stranger } from '../../lab/scenarios/stranger.ts'
import { strangerFailures } from '../../lab/scenarios/verdicts.ts'
import { log, requireRoot, sharedWorld, WORLD_MS } from './harness.ts'
import type { World } from '../../lab/world.ts'

describe('stranger', function () {
  let w: World

  before(async function () {
    this.timeout(WORLD_MS)
    requireRoot(this)
    w = await sharedWorld()
  })

  it('stranger: a libp2p peer with no certificate on the WAN cannot reserve a relay slot, cannot open a relayed connection to a member, and learns nothing', async function () {
    this.timeout(5 * 60_000)
    const r = await stranger(w, log)
    log(`reserve: ${JSON.stringify(r.reserve)}; connect: ${JSON.stringify(r.connect)}; relayed dial: ${JSON.stringify(r.relayedDial)}`)
    expect(strangerFailures(r), JSON.stringify(r, null, 1)).to.deep.equal([])
  })
})
