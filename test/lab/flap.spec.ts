import { expect } from 'aegir/chai'
import { flap } from '../../lab/scenarios/flap.ts'
import { flapFailures } from '../../lab/scenarios/verdicts.ts'
import { log, requireRoot, sharedWorld, WORLD_MS } from './harness.ts'
import type { World } from '../../lab/world.ts'

describe('flap', function () {
  let w: World

  before(async function () {
    this.timeout(WORLD_MS)
    requireRoot(this)
    w = await sharedWorld()
  })

  it('flap: site A\'s uplink is cut for 30 s; within 10 s of the restore every node is re-authenticated with every member it had, and what was sent during the cut arrives exactly once', async function () {
    this.timeout(5 * 60_000)
    const r = await flap(w, log)
    log(`reconnect after restore: p50 ${String(r.p50)} ms, max ${String(r.max)} ms; per member ${JSON.stringify(r.reconnectMs)}`)
    expect(flapFailures(r), JSON.stringify(r, null, 1)).to.deep.equal([])
  })
})
