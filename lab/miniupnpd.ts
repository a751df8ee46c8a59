import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { UPNP_TABLE } from './nat.ts'
import { spawnInNs } from './process.ts'
import type { LabProcess } from './process.ts'

/** Debian's miniupnpd (package miniupnpd-nftables), the UPnP IGD and NAT-PMP router of the "upnp" site. */
export const MINIUPNPD = '/usr/sbin/miniupnpd'

/**
 * miniupnpd's config for a router whose uplink is `wan0` and whose LAN bridge is `lan0` with
 * `lanCidr`. Secure mode: a host may map ports only to itself; only unprivileged ports.
 */
export function miniupnpdConfig (lanCidr: string, uuid: string): string {
  return [
    'ext_ifname=wan0',
    'listening_ip=lan0',
    'port=0',
    'enable_natpmp=yes',
    'enable_upnp=yes',
    'secure_mode=yes',
    'system_uptime=yes',
    `uuid=${uuid}`,
    `upnp_table_name=${UPNP_TABLE}`,
    `upnp_nat_table_name=${UPNP_TABLE}`,
    'upnp_forward_chain=miniupnpd',
    'upnp_nat_chain=prerouting_miniupnpd',
    'upnp_nat_postrouting_chain=postrouting_miniupnpd',
    `allow 1024-65535 ${lanCidr} 1024-65535`,
    'deny 0-65535 0.0.0.0/0 0-65535',
    ''
  ].join('\n')
}

/**
 * Starts miniupnpd in the router namespace, in the foreground (`-d`) so its pid is the process's
 * own, with its pid file in the lab's directory (the default /run path would clash between labs).
 */
export async function startMiniupnpd (ns: string, dir: string, lanCidr: string, uuid: string): Promise<LabProcess> {
  const conf = join(dir, `miniupnpd-${ns}.conf`)
  await writeFile(conf, miniupnpdConfig(lanCidr, uuid))
  const p = spawnInNs(ns, `miniupnpd ${ns}`, [MINIUPNPD, '-d', '-f', conf, '-P', join(dir, `miniupnpd-${ns}.pid`)])
  // It logs its HTTP listening port once the sockets are open.
  await p.waitFor(/HTTP listening on port \d+/, 10_000)
  return p
}
