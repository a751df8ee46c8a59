import { missingPairs, percentile, snapshot, timeUntil } from '../observe.ts'
import { FULL_MESH_MS } from '../world.ts'
import { deliveries, gossipCopies, publishSignatureViaApi, sendBundleViaApi } from './actions.ts'
import type { Log, World } from '../world.ts'

/** The issue's cut and the bound on re-authentication after the restore. */
export const CUT_MS = 30_000
export const REAUTH_BOUND_MS = 10_000
/** How long the lab watches after the restore, so that a slow reconnect is measured, not only failed. */
const WATCH_MS = 60_000
const DELIVERY_MS = 30_000

export interface FlapResult {
  missingBefore: string[]
  /** Cross-site pairs still authenticated at the end of the cut (the cut's effect, for the record). */
  heldThroughCut: string[]
  /** Per member: ms from the restore until it held every member it had before the cut again (null: not within the watch). */
  reconnectMs: Record<string, number | null>
  p50: number | null
  max: number | null
  /** What each member still lacked at the end of the watch. */
  lacking: Record<string, string[]>
  sent: {
    bundles: Array<{ bundleId: string, from: string, to: string, inbox: number, logged: number }>
    signatures: Array<{ messageId: string, from: string, copies: Record<string, number> }>
  }
}

/**
 * `flap`: site A's uplink is cut for 30 s (its switch port down) and restored. Bundles and
 * signatures are sent across the cut while it lasts, from both sides. After the restore every
 * member must hold every member it held before, authenticated, within 10 s, without anyone
 * dialling for it; what was sent during the cut arrives exactly once.
 */
export async function flap (w: World, log: Log): Promise<FlapResult> {
  const { mesh, lab } = w
  const members = w.members
  await timeUntil(async () => missingPairs(await snapshot(mesh, members), members).length === 0, FULL_MESH_MS, 1000)
  const before = await snapshot(mesh, members)
  const missingBefore = missingPairs(before, members)
  const inA = new Set(lab.site('a').hosts.filter(h => members.includes(h)))

  await lab.cutUplink('a', 'link')
  const cutAt = Date.now()
  let restored = false
  let bundles: Array<{ bundleId: string, from: string, to: string }> = []
  let signatures: Array<{ messageId: string, from: string }> = []
  const heldThroughCut: string[] = []
  // Whatever fails while the site is cut, the uplink comes back: later scenarios share the world.
  try {
    log(`flap: site a cut (${[...inA].join(' ')})`)
    // Sent while the cut lasts, from both sides of it.
    const [aSender, aOther] = [...inA]
    const outside = members.filter(m => !inA.has(m) && m !== 'pub')
    const [bSender, bTo] = [outside[0], outside[1] ?? outside[0]]
    bundles = await Promise.all([
      sendBundleViaApi(mesh, aSender, bTo, `flap a->b ${cutAt}`).then(id => ({ bundleId: id, from: aSender, to: bTo })),
      sendBundleViaApi(mesh, bSender, aSender, `flap b->a ${cutAt}`).then(id => ({ bundleId: id, from: bSender, to: aSender }))
    ])
    signatures = await Promise.all([
      publishSignatureViaApi(mesh, aOther ?? aSender, `flap from a ${cutAt}`).then(id => ({ messageId: id, from: aOther ?? aSender })),
      publishSignatureViaApi(mesh, bSender, `flap from b ${cutAt}`).then(id => ({ messageId: id, from: bSender }))
    ])
    const sentMs = Date.now() - cutAt
    if (sentMs > CUT_MS) { log(`flap: sending took ${sentMs} ms, longer than the cut`) }
    // The fault's length is the scenario's input: wait out the rest of the 30 s.
    await new Promise(resolve => setTimeout(resolve, Math.max(0, CUT_MS - (Date.now() - cutAt))))
    const during = await snapshot(mesh, members)
    for (const a of inA) {
      for (const o of members.filter(m => !inA.has(m))) { if (during.get(a)?.has(o) === true) { heldThroughCut.push(`${a}-${o}`) } }
    }
    await lab.restoreUplink('a', 'link')
    restored = true
  } finally {
    if (!restored) { await lab.restoreUplink('a', 'link') }
  }
  const restoredAt = Date.now()
  log(`flap: site a restored after ${restoredAt - cutAt} ms; ${heldThroughCut.length} cross-site sessions were still listed at the end of the cut`)

  const reconnectMs: Record<string, number | null> = Object.fromEntries(members.map(m => [m, null]))
  const lacking: Record<string, string[]> = {}
  await timeUntil(async () => {
    const snap = await snapshot(mesh, members)
    const t = Date.now() - restoredAt
    for (const m of members) {
      const want = [...(before.get(m) ?? [])].filter(x => members.includes(x))
      const have = snap.get(m)
      lacking[m] = want.filter(x => have?.has(x) !== true)
      if (lacking[m].length === 0 && reconnectMs[m] == null) { reconnectMs[m] = t }
    }
    return members.every(m => reconnectMs[m] != null)
  }, WATCH_MS, 150)
  const times = Object.values(reconnectMs).filter((x): x is number => x != null)
  const p50 = percentile(times, 50)
  const max = times.length === members.length ? Math.max(...times) : null
  log(`flap: re-authenticated p50 ${String(p50)} ms, max ${max == null ? `not all within ${WATCH_MS} ms` : `${max} ms`}`)

  // Everything sent during the cut arrives, once.
  const bundleCounts = bundles.map(b => ({ ...b, inbox: 0, logged: 0 }))
  const sigCopies = signatures.map(s => ({ ...s, copies: {} as Record<string, number> }))
  await timeUntil(async () => {
    for (const b of bundleCounts) { Object.assign(b, await deliveries(mesh, b.to, b.bundleId).catch(() => ({ inbox: 0, logged: 0 }))) }
    for (const s of sigCopies) {
      for (const m of members.filter(x => x !== s.from)) { s.copies[m] = await gossipCopies(mesh, m, s.messageId).catch(() => 0) }
    }
    return bundleCounts.every(b => b.inbox >= 1) && sigCopies.every(s => Object.values(s.copies).every(c => c >= 1))
  }, DELIVERY_MS, 500)
  // Recounted once more: a duplicate delivery would have had the whole wait to show.
  for (const b of bundleCounts) { Object.assign(b, await deliveries(mesh, b.to, b.bundleId).catch(() => ({ inbox: -1, logged: -1 }))) }
  return { missingBefore, heldThroughCut, reconnectMs, p50, max, lacking, sent: { bundles: bundleCounts, signatures: sigCopies } }
}
