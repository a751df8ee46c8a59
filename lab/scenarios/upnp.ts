import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { missingPairs, snapshot, timeUntil } from '../observe.ts'
import { FULL_MESH_MS } from '../world.ts'
import type { Log, World } from '../world.ts'

const STRANGER = join(dirname(fileURLToPath(import.meta.url)), '..', 'stranger.ts')
/** A node asks its router for a mapping soon after start; the router answers at once. */
const MAPPING_MS = 60_000

/**
 * The UDP DNAT miniupnpd wrote for `ip`, from the router's ruleset. Its nftables backend matches
 * the protocol by the IP header's protocol byte (a raw payload match on offset 72, value 0x11 for
 * UDP), then `th dport 40123 dnat ip to 10.77.3.10:40123`.
 */
export function udpMapping (rules: string, ip: string): { externalPort: number, internal: string } | null {
  for (const line of rules.split('\n')) {
    const m = /(?:udp|th) dport (\d+) dnat (?:ip )?to ([\d.]+):(\d+)/.exec(line)
    if (m == null || m[2] !== ip || !(line.includes('@nh,72,8 0x11') || line.includes('udp dport'))) { continue }
    return { externalPort: Number(m[1]), internal: `${m[2]}:${m[3]}` }
  }
  return null
}

export interface DialResult { ok: boolean, remotePeer: string | null, remoteAddr: string | null, error: string | null }
export interface UpnpResult {
  missingBefore: string[]
  /** The DNAT miniupnpd added for u1 (external port -> u1's address and port), or null. */
  mapping: { externalPort: number, internal: string } | null
  /** u1's addresses as it advertises them (`GET /v1/node`). */
  advertised: string[]
  /** A dial from site b (symmetric NAT) to the router's public address and the mapped port. */
  dialUpnp: DialResult | null
  /** The control: the same dial to a1's port on the cone router, which maps nothing inbound. */
  dialCone: DialResult
}

/**
 * `upnp`: u1 sits behind a router running miniupnpd. It maps its own port there (UPnP IGD or
 * NAT-PMP) and advertises the router's public address with it, and a host of the other site dials
 * that address directly and reaches u1 (TLS proves the peer id). The same dial to a member behind
 * the plain cone NAT fails, which shows that the first succeeded because of the mapping.
 */
export async function upnp (w: World, log: Log): Promise<UpnpResult> {
  const { mesh, lab } = w
  const members = w.members
  await timeUntil(async () => missingPairs(await snapshot(mesh, members), members).length === 0, FULL_MESH_MS, 1000)
  const missingBefore = missingPairs(await snapshot(mesh, members), members)
  const u1 = mesh.node('u1')
  const u1Ip = lab.host('u1').ip
  const routerIp = lab.site('u').wanIp
  let mapping: UpnpResult['mapping'] = null
  await timeUntil(async () => {
    mapping = udpMapping(await lab.routerRules('u'), u1Ip)
    return mapping != null
  }, MAPPING_MS, 500)
  const found = mapping as UpnpResult['mapping']
  log(`upnp: ${found == null ? 'no mapping on the router' : `router maps udp ${routerIp}:${found.externalPort} -> ${found.internal}`}`)
  const info = await u1.agent.get<{ multiaddrs: string[] }>('/v1/node').catch(() => ({ multiaddrs: [] }))
  const dial = async (addr: string): Promise<DialResult> => JSON.parse(await lab.exec('b2', [process.execPath, STRANGER, 'dial', addr], { timeoutMs: 60_000 })) as DialResult
  const dialUpnp = found == null ? null : await dial(`/ip4/${routerIp}/udp/${found.externalPort}/quic-v1/p2p/${u1.peerId}`)
  // The control: a1's own QUIC port, on its cone router's public address.
  const a1 = mesh.node('a1')
  const a1Port = a1.addrs.map(a => /\/udp\/(\d+)\/quic-v1/.exec(a)?.[1]).find(p => p != null)
  const dialCone = await dial(`/ip4/${lab.site('a').wanIp}/udp/${a1Port ?? '1'}/quic-v1/p2p/${a1.peerId}`)
  log(`upnp: direct dial to u1 ${dialUpnp?.ok === true ? 'connected' : `failed (${dialUpnp?.error ?? 'no mapping'})`}; control dial to a1 behind the cone NAT ${dialCone.ok ? 'CONNECTED' : 'failed, as it should'}`)
  return { missingBefore, mapping: found, advertised: info.multiaddrs, dialUpnp, dialCone }
}
