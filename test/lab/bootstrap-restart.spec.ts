import { expect } from 'aegir/chai'
import { bootstrapRestart } from '../../lab/scenarios/bootstrap-restart.ts'
import { bootstrapRestartFailures } from '../../lab/scenarios/verdicts.ts'
import { log, requireRoot, sharedWorld, WORLD_MS } from './harness.ts'
import type { World } from '../../lab/world.ts'

describe('bootstrap-restart', function () {
  let w: World

  before(async function () {
    this.timeout(WORLD_MS)
    requireRoot(this)
    w = await sharedWorld()
  })

  it('bootstrap-restart: the public member is killed and restarted on the same addresses, and every member reconnects', async function () {
    this.timeout(5 * 60_000)
    const r = await bootstrapRestart(w, log)
    expect(bootstrapRestartFailures(r), JSON.stringify(r, null, 1)).to.deep.equal([])
  })
})
