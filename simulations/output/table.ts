import { healLines } from '../metrics/heal.ts'
import type { RunSummary } from '../coordinator/summary-file.ts'
import type { RotationFigures } from '../metrics/rotation-summary.ts'
import type { AdapterSummary } from '../metrics/summary.ts'

/** The one-screen summary printed at the end of a run. */
export function summaryTable (s: RunSummary): string {
  const b = s.baseline
  const L: string[] = []
  L.push(`run ${s.name}`)
  L.push(`scenario ${s.scenario}  nodes ${s.nodes}  transport ${s.transport}  shards ${s.shards}  seed ${s.seed}  ${s.transport === 'memory' ? `links ${s.link.latencyMs} ms +-${s.link.jitterMs} loss ${s.link.loss}` : 'links: real loopback QUIC (no link model)'}`)
  L.push(`wall ${(s.timings.totalMs / 1000).toFixed(1)} s (enroll ${(s.timings.enrollMs / 1000).toFixed(1)} s, mesh ${((s.timings.meshMs ?? 0) / 1000).toFixed(1)} s${s.timings.plainMs != null ? `, baseline ${(s.timings.plainMs / 1000).toFixed(1)} s` : ''})`)
  L.push('')
  const head = ['', 'mesh', ...(b != null ? ['baseline', 'ratio'] : [])]
  const rows: string[][] = []
  const row = (name: string, f: (a: AdapterSummary) => string, ratio?: number | null): void => {
    rows.push([name, f(s.mesh), ...(b != null ? [f(b), ratio != null ? `${ratio.toFixed(3)}x` : ''] : [])])
  }
  row('messages', a => String(a.messages))
  row('delivery ratio', a => a.deliveryRatio == null ? 'n/a' : `${(a.deliveryRatio * 100).toFixed(2)}%`)
  row('deliveries', a => `${a.deliveries}/${a.expectedDeliveries}`)
  row('latency p50 ms', a => fmt(a.latencyMs.p50), s.latencyRatios?.p50)
  row('latency p90 ms', a => fmt(a.latencyMs.p90), s.latencyRatios?.p90)
  row('latency p99 ms', a => fmt(a.latencyMs.p99), s.latencyRatios?.p99)
  row('latency max ms', a => fmt(a.latencyMs.max), s.latencyRatios?.max)
  row('deliveries/s', a => fmt(a.deliveriesPerSecond))
  row('duplicates/node', a => fmt(a.duplicates.meanPerNode))
  row(s.transport === 'memory' ? 'sent kB/node' : 'sent kB/node (RPC)', a => a.bytes.sentMeanPerNode == null ? 'n/a' : (a.bytes.sentMeanPerNode / 1024).toFixed(1))
  row(s.transport === 'memory' ? 'recv kB/node' : 'recv kB/node (RPC)', a => a.bytes.receivedMeanPerNode == null ? 'n/a' : (a.bytes.receivedMeanPerNode / 1024).toFixed(1))
  row('mesh peers (mean)', a => fmt(a.formation.meanMeshPeers))
  row('CPU s (shards)', a => a.shards.map(x => x.cpuS.toFixed(1)).join('+'))
  row('peak RSS MB', a => a.shards.map(x => String(x.peakRssMB)).join('+'))
  L.push(...grid([head, ...rows]))
  const f = s.mesh.formation
  L.push('')
  L.push(`formation: ${f.dials} dials (${f.dialFailures} failed, p50 ${f.dialP50Ms ?? 'n/a'} ms); ${f.nodesWithMeshPeers}/${s.nodes} nodes with gossip mesh peers ${f.readyMs != null ? `${(f.readyMs / 1000).toFixed(1)} s after the first node started` : ''}`)
  const iso = s.mesh.isolation
  if (iso != null) {
    L.push('')
    L.push(`revocation: ${iso.revoked.length} node(s) revoked; isolated on ${iso.curve.length}/${iso.expectedPairs} node pairs; all isolated after ${iso.allIsolatedMs ?? 'never'} ms`)
  }
  const part = s.mesh.partition
  if (part != null) {
    L.push('')
    L.push(`partition: cut ${part.healAt != null ? `${((part.healAt - part.cutAt) / 1000).toFixed(1)} s` : 'never healed'}; deliveries across it while cut ${part.crossDeliveriesWhileCut}; cut-time messages that crossed after the heal ${part.cutMessagesCrossedAfterHeal}/${part.cutMessages} (gossip's message cache${s.mesh.heal?.dtn != null ? ' and DTN bundles' : '; the rest needs DTN'}); recovery after heal ${part.recoveryMs ?? 'n/a'} ms; post-heal delivery ${part.postHealRatio ?? 'n/a'}`)
  }
  if (s.mesh.heal != null) { L.push(...healLines(s.mesh.heal)) }
  if (s.mesh.flood != null) {
    L.push('')
    L.push(`flood by node ${s.mesh.flood.flooder.join(',')}: sent ${Object.entries(s.mesh.flood.sent).map(([k, v]) => `${k} ${v}`).join(', ')}; rejected by validators ${s.mesh.invalidRejected}; honest delivery ${s.mesh.deliveryRatio == null ? 'n/a' : (s.mesh.deliveryRatio * 100).toFixed(2) + '%'}`)
  }
  const rot = s.mesh.rotation
  if (rot != null) {
    L.push('')
    L.push(...rotationLines(rot))
  }
  L.push('')
  L.push('goals:')
  for (const g of s.goals) {
    const mark = g.pass == null ? '   ' : g.pass ? 'ok ' : 'NO '
    L.push(`  ${mark} ${g.name}: ${g.value} (target ${g.target})${g.note != null ? ` [${g.note}]` : ''}`)
  }
  return L.join('\n')
}

/** The rotation block of the summary table. */
function rotationLines (r: RotationFigures): string[] {
  const codes = (m: Record<string, number>): string => Object.keys(m).length === 0 ? 'none' : Object.entries(m).map(([k, v]) => `${k} ${v}`).join(', ')
  return [
    `rotation: certificates ${r.certSeconds} s, clock ${r.clockSpeed}x, ${r.runClockSeconds.toFixed(0)} s of run clock from traffic start`,
    `  rotations ${r.rotations.total} (${r.rotations.duringTraffic} in traffic; per node min ${r.rotations.minPerNode} / median ${r.rotations.medianPerNode} / max ${r.rotations.maxPerNode}; ${r.rotations.nodesRotated} nodes rotated); failed attempts ${r.rotationFailures.total} (${codes(r.rotationFailures.byCode)}); old keys deleted ${r.keysDeleted}`,
    `  margin left on the replaced certificate: min ${r.marginSeconds.min ?? 'n/a'} s, median ${r.marginSeconds.median ?? 'n/a'} s of run clock; re-auth after rotation: ${r.reauth.ok} sessions moved, ${r.reauth.failed} failed (longest pass ${r.reauth.maxPassMs ?? 'n/a'} ms wall)`,
    `  auth failures ${r.authFailures.total} (${codes(r.authFailures.byCode)}); attributable to rotation ${r.attributableToRotation}`,
    `  sessions ended ${r.sessionsEnded.total} (for expiry ${r.sessionsEnded.expired}); connection closes during traffic ${r.connectionClosesDuringTraffic}`
  ]
}

function fmt (x: number | null): string {
  return x == null ? 'n/a' : x >= 100 ? x.toFixed(0) : x.toFixed(1)
}

/** Left-aligned first column, right-aligned others. */
export function grid (rows: string[][]): string[] {
  const w = rows[0].map((_, c) => Math.max(...rows.map(r => (r[c] ?? '').length)))
  return rows.map(r => r.map((cell, c) => c === 0 ? cell.padEnd(w[c]) : cell.padStart(w[c])).join('  '))
}
