import { REAUTH_BOUND_MS } from './flap.ts'
import { REVOCATION_BOUND_MS } from './two-sites.ts'
import type { BootstrapRestartResult } from './bootstrap-restart.ts'
import type { FlapResult } from './flap.ts'
import type { StrangerResult } from './stranger.ts'
import type { TwoSitesResult } from './two-sites.ts'
import type { UpnpResult } from './upnp.ts'

/**
 * The issue's assertions per scenario, as the list of those that fail (empty: the scenario
 * passes). The specs and `npm run lab` judge with the same lists, and each entry says what was
 * expected and what the lab saw.
 */
export function twoSitesFailures (r: TwoSitesResult): string[] {
  const f: string[] = []
  if (r.missing.length > 0) { f.push(`every member pair authenticated: missing ${r.missing.join(' ')}`) }
  const notReached = Object.entries(r.gossip.copies).filter(([, n]) => n !== 1).map(([m, n]) => `${m}=${n}`)
  if (r.gossip.ms == null || notReached.length > 0) { f.push(`signature from ${r.gossip.from} held exactly once by every member: ${notReached.join(' ') || 'not within the deadline'}`) }
  if (r.bundle.inbox !== 1 || r.bundle.logged !== 1) { f.push(`bundle ${r.bundle.from}->${r.bundle.to} delivered exactly once: inbox rows ${r.bundle.inbox}, delivery events ${r.bundle.logged}`) }
  const rv = r.revocation
  if (rv.ms == null || rv.ms > REVOCATION_BOUND_MS) {
    f.push(`revocation of ${rv.victim} cuts it off everywhere within ${REVOCATION_BOUND_MS} ms: ${rv.ms == null ? 'not within the watch' : `${rv.ms} ms`}; still held by [${rv.holders.join(' ')}], it still holds [${(rv.victimHolds ?? []).join(' ')}]`)
  }
  return f
}

export function flapFailures (r: FlapResult): string[] {
  const f: string[] = []
  if (r.missingBefore.length > 0) { f.push(`full mesh before the cut: missing ${r.missingBefore.join(' ')}`) }
  const late = Object.entries(r.reconnectMs).filter(([, ms]) => ms == null || ms > REAUTH_BOUND_MS)
  if (late.length > 0) {
    f.push(`every member re-authenticated with every member it had within ${REAUTH_BOUND_MS} ms of the restore: ${late.map(([m, ms]) => `${m} ${ms == null ? `never (lacks ${(r.lacking[m] ?? []).join(',')})` : `${ms} ms`}`).join('; ')}`)
  }
  for (const b of r.sent.bundles) {
    if (b.inbox !== 1 || b.logged !== 1) { f.push(`bundle ${b.from}->${b.to} sent during the cut delivered exactly once: inbox rows ${b.inbox}, delivery events ${b.logged}`) }
  }
  for (const s of r.sent.signatures) {
    const bad = Object.entries(s.copies).filter(([, n]) => n !== 1).map(([m, n]) => `${m}=${n}`)
    if (bad.length > 0) { f.push(`signature from ${s.from} sent during the cut held exactly once everywhere: ${bad.join(' ')}`) }
  }
  return f
}

export function bootstrapRestartFailures (r: BootstrapRestartResult): string[] {
  const f: string[] = []
  if (r.missingBefore.length > 0) { f.push(`full mesh before the kill: missing ${r.missingBefore.join(' ')}`) }
  if (r.killedBy !== 'SIGKILL') { f.push(`the public member was killed by SIGKILL: ${String(r.killedBy)}`) }
  if (r.after.peerId !== r.before.peerId) { f.push(`same peer id after the restart: ${r.before.peerId} -> ${r.after.peerId}`) }
  if (JSON.stringify([...r.after.addrs].sort()) !== JSON.stringify([...r.before.addrs].sort())) { f.push(`same addresses after the restart: [${r.before.addrs.join(' ')}] -> [${r.after.addrs.join(' ')}]`) }
  if (r.reconnectMs == null) { f.push(`everyone reconnects: missing ${r.missingAfter.join(' ')}`) }
  return f
}

export function strangerFailures (r: StrangerResult): string[] {
  const f: string[] = []
  if (r.missingBefore.length > 0) { f.push(`full mesh before the stranger: missing ${r.missingBefore.join(' ')}`) }
  if (r.reserve.status === 'OK') { f.push('the stranger is refused a relay reservation: the relay answered OK') }
  if (r.connect.status === 'OK') { f.push('the stranger is refused a relayed connection (CONNECT): the relay answered OK') }
  if (r.relayedDial.ok) { f.push('the stranger cannot open a relayed connection to a member: the dial succeeded') }
  if (r.dht.found.length > 0) { f.push(`the stranger learns no member address from the DHT: found ${r.dht.found.join(' ')}`) }
  if (r.learned.peers.length > 0) { f.push(`the stranger learns no peers: ${r.learned.peers.join(' ')}`) }
  if (r.learned.relayProtocols.length > 0) { f.push(`the stranger learns nothing of the relay's protocols: ${r.learned.relayProtocols.join(' ')}`) }
  const dialled = r.relay.replace(/\/p2p\/.*$/, '')
  const extra = r.learned.relayAddrs.filter(a => a !== dialled)
  if (extra.length > 0) { f.push(`the stranger learns no relay address beyond the one it dialled: ${extra.join(' ')}`) }
  if (r.listedBy.length > 0) { f.push(`no member lists the stranger: listed by ${r.listedBy.join(' ')}`) }
  if (r.missingAfter.length > 0) { f.push(`the mesh is intact after the stranger: missing ${r.missingAfter.join(' ')}`) }
  return f
}

export function upnpFailures (r: UpnpResult, routerIp: string): string[] {
  const f: string[] = []
  if (r.missingBefore.length > 0) { f.push(`full mesh with the UPnP member: missing ${r.missingBefore.join(' ')}`) }
  if (r.mapping == null) {
    f.push('u1 mapped its port on the UPnP router: miniupnpd holds no mapping for it')
  } else {
    const want = `/ip4/${routerIp}/udp/${r.mapping.externalPort}/quic-v1`
    if (!r.advertised.some(a => a.startsWith(want))) { f.push(`u1 advertises the mapped address ${want}: it advertises [${r.advertised.join(' ')}]`) }
  }
  if (r.dialUpnp?.ok !== true) { f.push(`a host of the other site dials u1 directly at the mapped address: ${r.dialUpnp?.error ?? 'no mapping to dial'}`) }
  if (r.dialCone.ok) { f.push('control: the same dial to a member behind the cone NAT (no mapping) fails: it connected') }
  return f
}
