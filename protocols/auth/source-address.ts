/**
 * The source a connection waiting for auth is counted against: its IPv4 address, or the /64 of
 * its IPv6 address. A PeerId costs nothing to change, an address does: one IPv4 address is what
 * a host (or a NAT in front of several) has, and a /64 is the smallest IPv6 block a site is
 * given (RFC 6177), so counting single IPv6 addresses would let one host take 2^64 shares.
 * Returns undefined for an address with no IP (in-process transports), which is not limited
 * per source (only by the global cap).
 */
export function sourceKey (multiaddr: string): string | undefined {
  const v4 = /^\/ip4\/([0-9.]+)(?:\/|$)/.exec(multiaddr)
  if (v4 != null) { return `ip4/${v4[1]}` }
  const v6 = /^\/ip6\/([0-9a-fA-F:.]+)(?:\/|$)/.exec(multiaddr)
  if (v6 == null) { return undefined }
  const groups = expandIpv6(v6[1])
  // An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is that IPv4 host.
  if (groups != null && groups.slice(0, 5).every(g => g === 0) && groups[5] === 0xffff) {
    return `ip4/${groups[6] >> 8}.${groups[6] & 0xff}.${groups[7] >> 8}.${groups[7] & 0xff}`
  }
  return groups == null ? `ip6/${v6[1].toLowerCase()}` : `ip6/${groups.slice(0, 4).map(g => g.toString(16)).join(':')}::/64`
}

/** The eight 16-bit groups of an IPv6 address (with `::` and a trailing dotted IPv4), or null. */
function expandIpv6 (text: string): number[] | null {
  let s = text
  const tail: number[] = []
  const dotted = /^(.*:)(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s)
  if (dotted != null) {
    const b = dotted.slice(2).map(Number)
    if (b.some(x => x > 255)) { return null }
    tail.push((b[0] << 8) | b[1], (b[2] << 8) | b[3])
    s = dotted[1].endsWith('::') ? dotted[1] : dotted[1].slice(0, -1)
  }
  const halves = s.split('::')
  if (halves.length > 2) { return null }
  const parse = (part: string): number[] | null => {
    if (part === '') { return [] }
    const out: number[] = []
    for (const g of part.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) { return null }
      out.push(parseInt(g, 16))
    }
    return out
  }
  const head = parse(halves[0])
  const rest = halves.length === 2 ? parse(halves[1]) : []
  if (head == null || rest == null) { return null }
  const known = head.length + rest.length + tail.length
  if (halves.length === 1 ? known !== 8 : known > 7) { return null }
  return [...head, ...new Array<number>(8 - known).fill(0), ...rest, ...tail]
}
