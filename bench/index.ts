/* eslint-disable no-console -- benchmarks print their figures */
/**
 * `npm run bench`: every benchmark prints its figures next to a baseline measured in the same
 * run, as a ratio. Absolute times on a shared 2-core machine are noise; ratios are the goals.
 * Run one group with `npm run bench -- chain` (names below).
 */
import { printResults } from './types.ts'
import type { BenchResult } from './types.ts'

type Bench = () => Promise<BenchResult[]>

const groups: Record<string, { title: string, load(): Promise<Bench> }> = {
  chain: { title: 'PKI: chain verification', load: async () => (await import('./chain.ts')).benchChain },
  enroll: { title: 'Enrollment service: enrollments per second', load: async () => (await import('./enroll.ts')).benchEnroll },
  dial: { title: 'Mesh node: dial with mesh auth vs raw dial', load: async () => (await import('./mesh-dial.ts')).benchMeshDial },
  dtn: { title: 'DTN: bundle store acceptance and drain', load: async () => (await import('./dtn.ts')).benchDtn },
  hw: { title: 'Hardware keys (SoftHSM2) and TPM quote verification', load: async () => (await import('./hw.ts')).benchHw },
  gossip: {
    title: 'Gossip: anomaly envelopes validated per second; deliveries per second with metrics on vs off',
    load: async () => {
      const { benchGossipValidate } = await import('./gossip-validate.ts')
      const { benchGossipMetrics } = await import('./gossip-metrics.ts')
      return async () => [...await benchGossipValidate(), ...await benchGossipMetrics()]
    }
  },
  cli: { title: 'CLI: start-up of a command against a running node, vs a bare `node -e 0`', load: async () => (await import('./cli.ts')).benchCli },
  relay: { title: 'Relay: member-to-member gossip p99 through a member relay vs a direct QUIC link', load: async () => (await import('./relay.ts')).benchRelay },
  'gossip-latency': { title: 'Gossip: publish-to-delivery latency, 20-node QUIC mesh, mesh vs plain gossipsub', load: async () => (await import('./gossip-latency.ts')).benchGossipLatency }
}

const wanted = process.argv.slice(2).filter(a => !a.startsWith('-'))
const names = wanted.length > 0 ? wanted : Object.keys(groups)
let failed = false
for (const name of names) {
  const g = groups[name]
  if (g == null) {
    console.error(`unknown benchmark group ${name}; known: ${Object.keys(groups).join(', ')}`)
    process.exit(2)
  }
  try {
    printResults(g.title, await (await g.load())())
  } catch (err) {
    failed = true
    console.error(`benchmark ${name} failed:`, err)
  }
}
process.exit(failed ? 1 : 0)
