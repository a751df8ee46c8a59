/**
 * The site routers' nftables rulesets. Interface names are the router's own: `wan0` (its uplink
 * on the WAN segment) and `lan0` (the bridge its hosts hang off).
 *
 * cone: plain masquerade. Linux keeps the host's source port when it is free, so a host's
 * mapping is the same whatever it sends to (endpoint-independent mapping); inbound packets pass
 * only when conntrack knows the exact remote address and port (port-restricted filtering).
 * symmetric: masquerade `fully-random`: every new remote endpoint gets its own random port.
 * upnp: the cone rules plus the empty chains miniupnpd fills with its DNAT and forward rules.
 */
export type NatKind = 'cone' | 'symmetric' | 'upnp'

export const NAT_KINDS: readonly NatKind[] = ['cone', 'symmetric', 'upnp']

/** The table miniupnpd adds its chains' rules to (named in its config file). */
export const UPNP_TABLE = 'dlab_upnp'

export function routerRuleset (kind: NatKind): string {
  const masq = kind === 'symmetric' ? 'masquerade fully-random' : 'masquerade'
  const base = `table ip dlab_nat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan0" ${masq}
  }
}
table inet dlab_filter {
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname "lan0" oifname "wan0" accept
    iifname "lan0" oifname "lan0" accept
    ct status dnat accept
  }
}
`
  if (kind !== 'upnp') { return base }
  // miniupnpd (nftables backend) only adds rules to chains that exist; these hook its chains in.
  return base + `table inet ${UPNP_TABLE} {
  chain forward {
    type filter hook forward priority filter - 1; policy accept;
    jump miniupnpd
  }
  chain miniupnpd {
  }
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    jump prerouting_miniupnpd
  }
  chain postrouting {
    type nat hook postrouting priority srcnat - 1; policy accept;
    jump postrouting_miniupnpd
  }
  chain prerouting_miniupnpd {
  }
  chain postrouting_miniupnpd {
  }
}
`
}

/** Drops everything crossing the uplink, both ways: the "cable still in, provider gone" cut. */
export function cutRuleset (): string {
  return `table inet dlab_cut {
  chain forward { type filter hook forward priority filter - 10; policy accept; iifname "wan0" drop; oifname "wan0" drop; }
  chain input { type filter hook input priority filter - 10; policy accept; iifname "wan0" drop; }
  chain output { type filter hook output priority filter - 10; policy accept; oifname "wan0" drop; }
}
`
}

/**
 * Random loss of `percent` % of the packets crossing the interface `dev`, both ways (nft
 * `numgen random`; there is no netem here). Bounded by the caller to 0-50 %.
 */
export function lossRuleset (dev: string, percent: number): string {
  return `table inet dlab_loss {
  chain forward { type filter hook forward priority filter - 5; policy accept; iifname "${dev}" numgen random mod 100 < ${percent} drop; oifname "${dev}" numgen random mod 100 < ${percent} drop; }
  chain input { type filter hook input priority filter - 5; policy accept; iifname "${dev}" numgen random mod 100 < ${percent} drop; }
  chain output { type filter hook output priority filter - 5; policy accept; oifname "${dev}" numgen random mod 100 < ${percent} drop; }
}
`
}
