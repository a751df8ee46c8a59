/**
 * The options of the NAT services (AutoNAT v2, DCUtR, UPnP): plain data, defaults and checks,
 * apart from the services themselves so that reading a config loads no libp2p module.
 * src/node/autonat.ts, dcutr.ts and upnp.ts build the services.
 */

/** AutoNAT v2 among members (src/node/autonat.ts says why members only). */
export interface AutonatOptions {
  /** Run AutoNAT v2 (ask members, answer members). */
  enabled: boolean
  /**
   * Deadline of one request, ms, on both sides: the dial back, its mesh auth and the answer.
   * 15 s = libp2p's 10 s dial timeout plus the 5 s auth deadline.
   */
  timeoutMs: number
  /** Dial requests one connection may have open at once (libp2p's default, 2): a member is served one request at a time plus one. */
  maxInboundStreams: number
}

export const AUTONAT_DEFAULTS: AutonatOptions = { enabled: true, timeoutMs: 15_000, maxInboundStreams: 2 }

export function checkAutonatOptions (o: AutonatOptions, invalid: (message: string) => Error): AutonatOptions {
  if (!Number.isFinite(o.timeoutMs) || o.timeoutMs <= 0) { throw invalid('autonat.timeoutMs must be a positive number') }
  if (!Number.isInteger(o.maxInboundStreams) || o.maxInboundStreams < 1 || o.maxInboundStreams > 16) { throw invalid('autonat.maxInboundStreams must be a whole number from 1 to 16') }
  return o
}

/** DCUtR on relayed member connections (src/node/dcutr.ts says what it can and cannot do here). */
export interface DcutrOptions {
  /** Try the upgrade on relayed connections (needs `relay.enabled`). */
  enabled: boolean
  /** Deadline of one attempt, ms (libp2p's and go-libp2p's 5 s). */
  timeoutMs: number
  /** Attempts per relayed connection (libp2p's and go-libp2p's 3). */
  retries: number
}

export const DCUTR_DEFAULTS: DcutrOptions = { enabled: true, timeoutMs: 5_000, retries: 3 }

export function checkDcutrOptions (o: DcutrOptions, invalid: (message: string) => Error): DcutrOptions {
  if (!Number.isFinite(o.timeoutMs) || o.timeoutMs <= 0) { throw invalid('dcutr.timeoutMs must be a positive number') }
  if (!Number.isInteger(o.retries) || o.retries < 1 || o.retries > 10) { throw invalid('dcutr.retries must be a whole number from 1 to 10') }
  return o
}

/** UPnP IGD port mapping on the local gateway (src/node/upnp.ts). */
export interface UpnpOptions {
  /** Ask the gateway for port mappings. Off in the library; `node start` turns it on. */
  enabled: boolean
  /**
   * Gateway descriptor URLs (`http://192.168.1.1:5000/rootDesc.xml`). Empty: find gateways by
   * SSDP M-SEARCH on the local network, as libp2p does by default.
   */
  gateways: string[]
  /**
   * Advertise a mapped address at once, without a member's AutoNAT dial back. Off: a router
   * that maps the port but sits behind another NAT or a firewall would otherwise make us
   * advertise an address nobody can reach. On needs no AutoNAT (a mesh with no public member).
   */
  autoConfirm: boolean
  /**
   * Lease asked for each mapping, ms; libp2p renews it a minute before it ends. libp2p's 12
   * minutes: a node that dies leaves a mapping that lapses soon, and renewals stay rare.
   */
  mappingTtlMs: number
}

export const UPNP_DEFAULTS: UpnpOptions = { enabled: false, gateways: [], autoConfirm: false, mappingTtlMs: 720_000 }

/** Gateways listed at most: each costs a descriptor fetch at start. */
const MAX_GATEWAYS = 8

export function checkUpnpOptions (o: UpnpOptions, autonatEnabled: boolean, invalid: (message: string) => Error): UpnpOptions {
  if (!Number.isFinite(o.mappingTtlMs) || o.mappingTtlMs < 120_000) {
    // libp2p renews a minute before the lease ends: a shorter lease would renew without pause.
    throw invalid('upnp.mappingTtlMs must be at least 120000 (2 minutes)')
  }
  if (o.gateways.length > MAX_GATEWAYS) { throw invalid(`upnp.gateways lists more than ${MAX_GATEWAYS} gateways`) }
  for (const g of o.gateways) {
    let url: URL
    try {
      url = new URL(g)
    } catch (err) {
      throw invalid(`upnp gateway ${JSON.stringify(g)} is not a URL`)
    }
    if (url.protocol !== 'http:') { throw invalid(`upnp gateway ${g} must be an http:// descriptor URL (UPnP IGD serves plain HTTP)`) }
  }
  if (o.enabled && !o.autoConfirm && !autonatEnabled) {
    throw invalid('upnp needs autonat to confirm mapped addresses: enable autonat, or set upnp.autoConfirm')
  }
  return o
}
