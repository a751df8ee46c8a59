import { expect } from 'aegir/chai'
import { upnp } from '../../lab/scenarios/upnp.ts'
import { upnpFailures } from '../../lab/scenarios/verdicts.ts'
import { log, requireRoot, sharedWorld, WORLD_MS } from './harness.ts'
import type { World } from '../../lab/world.ts'

describe('upnp', function () {
  let w: World

  before(async function () {
    this.timeout(WORLD_MS)
    requireRoot(this)
    w = await sharedWorld()
  })

  it('upnp: a node behind miniupnpd maps its port, advertises it, and becomes directly dialable from the other site', async function () {
    this.timeout(5 * 60_000)
    const r = await upnp(w, log)
    expect(upnpFailures(r, w.lab.site('u').wanIp), JSON.stringify(r, null, 1)).to.deep.equal([])
  })
})
