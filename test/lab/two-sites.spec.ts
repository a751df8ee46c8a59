import { expect } from 'aegir/chai'
import { classifyPairs } from '../../lab/observe.ts'
import { twoSites } from '../../lab/scenarios/two-sites.ts'
import { twoSitesFailures } from '../../lab/scenarios/verdicts.ts'
import { log, requireRoot, sharedWorld, WORLD_MS } from './harness.ts'
import type { World } from '../../lab/world.ts'

/**
 * Real `dadm-mesh` processes in network namespaces: site A (a1, a2, a3) behind a port-restricted
 * cone NAT, site B (b1, b2) behind a symmetric NAT, u1 behind a UPnP router, one public member
 * (bootstrap server and relay) and the CA with its mesh node on the WAN.
 */
describe('two-sites', function () {
  let w: World

  before(async function () {
    this.timeout(WORLD_MS)
    requireRoot(this)
    w = await sharedWorld()
  })

  it('two-sites: every member pair authenticates (directly or through a member relay), a signature from site A reaches everyone, a bundle to site B arrives exactly once, a revocation cuts the node off everywhere within 2 s', async function () {
    this.timeout(5 * 60_000)
    const r = await twoSites(w, log)
    for (const p of r.pairs) { log(`  ${p.pair.padEnd(8)} ${p.natTypes.padEnd(20)} ${p.kind}`) }
    log(`revocation cut-off ${String(r.revocation.ms)} ms; victim exit ${String(r.revocation.victimExit)}`)
    expect(twoSitesFailures(r), JSON.stringify(r, null, 1)).to.deep.equal([])
    // Every pair that authenticated is either direct or relayed, none missing.
    expect((await classifyPairs(w.mesh, w.members, w.natOf)).filter(p => p.kind === 'none')).to.deep.equal([])
  })
})
