/* eslint-disable no-console -- the operator's report goes to the terminal */
/*
 * `npm run lab -- SCENARIO`: builds the WAN lab (namespaces, NAT routers, miniupnpd, the CA and
 * seven members as real `dadm-mesh` processes), runs the scenario, prints the figures an operator
 * wants, tears everything down, and exits 0 when the scenario's checks pass (1 otherwise, 2 on a
 * bad command line). Needs root (network namespaces).
 *
 *   two-sites          two-sites, then flap on the same mesh (for the reconnect figures)
 *   flap | bootstrap-restart | stranger | upnp
 *   all                every scenario, in that order, on one mesh
 *   --logs DIR         keep every process's output (nodes, CA, miniupnpd, agents) in DIR
 */
import { parseArgs } from 'node:util'
import { classifyPairs, relayedBytes } from './observe.ts'
import { bootstrapRestart } from './scenarios/bootstrap-restart.ts'
import { flap } from './scenarios/flap.ts'
import { stranger } from './scenarios/stranger.ts'
import { twoSites } from './scenarios/two-sites.ts'
import { upnp } from './scenarios/upnp.ts'
import { bootstrapRestartFailures, flapFailures, strangerFailures, twoSitesFailures, upnpFailures } from './scenarios/verdicts.ts'
import { buildWorld } from './world.ts'
import type { FlapResult } from './scenarios/flap.ts'
import type { World } from './world.ts'

const SCENARIOS = ['two-sites', 'flap', 'bootstrap-restart', 'stranger', 'upnp', 'all'] as const
type Scenario = typeof SCENARIOS[number]

const ms = (x: number | null | undefined): string => x == null ? 'n/a' : `${(x / 1000).toFixed(2)} s`
const log = (line: string): void => { console.error(`[${new Date().toISOString().slice(11, 23)}] ${line}`) }

async function pairsTable (w: World): Promise<string[]> {
  const pairs = await classifyPairs(w.mesh, w.members, w.natOf)
  const byType = new Map<string, { direct: number, relayed: number, none: number }>()
  for (const p of pairs) {
    const row = byType.get(p.natTypes) ?? { direct: 0, relayed: 0, none: 0 }
    row[p.kind]++
    byType.set(p.natTypes, row)
  }
  return [...byType.entries()].sort().map(([t, c]) => `  ${t.padEnd(22)} direct ${c.direct}  relayed ${c.relayed}${c.none > 0 ? `  not connected ${c.none}` : ''}`)
}

/** Runs `which` on world `w`, adding each failed check to `failures`; returns flap's result when it ran. */
async function runScenarios (which: Scenario, w: World, failures: string[]): Promise<FlapResult | undefined> {
  let flapResult: FlapResult | undefined
  if (which === 'two-sites' || which === 'all') { failures.push(...twoSitesFailures(await twoSites(w, log)).map(f => `two-sites: ${f}`)) }
  if (which === 'two-sites' || which === 'flap' || which === 'all') {
    flapResult = await flap(w, log)
    failures.push(...flapFailures(flapResult).map(f => `flap: ${f}`))
  }
  if (which === 'bootstrap-restart' || which === 'all') { failures.push(...bootstrapRestartFailures(await bootstrapRestart(w, log)).map(f => `bootstrap-restart: ${f}`)) }
  if (which === 'stranger' || which === 'all') { failures.push(...strangerFailures(await stranger(w, log)).map(f => `stranger: ${f}`)) }
  if (which === 'upnp' || which === 'all') { failures.push(...upnpFailures(await upnp(w, log), w.lab.site('u').wanIp).map(f => `upnp: ${f}`)) }
  return flapResult
}

async function main (argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: { logs: { type: 'string' } }, allowPositionals: true, strict: false })
  const which = positionals[0] as Scenario
  if (positionals.length !== 1 || !SCENARIOS.includes(which) || (values.logs != null && typeof values.logs !== 'string')) {
    console.error(`usage: npm run lab -- ${SCENARIOS.join('|')} [--logs DIR]`)
    return 2
  }
  const logsTo = typeof values.logs === 'string' ? values.logs : undefined
  if (process.getuid?.() !== 0) {
    console.error('npm run lab needs root: it creates network namespaces, veth pairs and nftables NAT')
    return 1
  }
  const w = await buildWorld(log)
  const failures: string[] = []
  const stopOnSignal = (): void => { void w.destroy({ ...(logsTo != null ? { logsTo } : {}) }).finally(() => process.exit(130)) }
  process.once('SIGINT', stopOnSignal)
  process.once('SIGTERM', stopOnSignal)
  try {
    const relayed0 = await w.lab.trafficBytes('pub')
    const relayCount0 = await relayedBytes(w.mesh, w.members)
    const flapResult = await runScenarios(which, w, failures)
    const relayed1 = await w.lab.trafficBytes('pub')
    const relayCount1 = await relayedBytes(w.mesh, w.members)
    console.log(`\nWAN lab, scenario ${which}: ${w.members.length} members (public, cone, symmetric, upnp sites)`)
    console.log(`cold start to full authenticated mesh: ${ms(w.coldStartMs)} (enrollment of all members before it: ${ms(w.enrollMs)})`)
    if (flapResult != null) { console.log(`reconnect after a 30 s uplink cut, per member: p50 ${ms(flapResult.p50)}, max ${flapResult.max == null ? 'not all reconnected' : ms(flapResult.max)}`) }
    console.log('member pairs, direct vs relayed, per NAT type:')
    for (const line of await pairsTable(w)) { console.log(line) }
    console.log(`relay bytes: ${relayCount1 - relayCount0} bytes carried by member relays during the scenario (their own counters; a restarted relay starts again from 0)`)
    console.log(`WAN link of the public member (bootstrap and relay): it moved ${relayed1.in - relayed0.in} bytes in and ${relayed1.out - relayed0.out} bytes out on its WAN link during the scenario (relayed traffic and its own)`)
    console.log(failures.length === 0 ? 'result: every check passed' : `result: ${failures.length} check(s) failed:\n  ${failures.join('\n  ')}`)
    return failures.length === 0 ? 0 : 1
  } finally {
    await w.destroy({ ...(logsTo != null ? { logsTo } : {}) })
  }
}

main(process.argv.slice(2)).then(code => { process.exitCode = code }, err => {
  console.error(`lab: ${(err as Error).message}`)
  process.exitCode = 1
})
