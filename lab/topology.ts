import { randomUUID } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { inNs, ip, ipIn, nft, run } from './exec.ts'
import { startMiniupnpd } from './miniupnpd.ts'
import { cutRuleset, lossRuleset, routerRuleset } from './nat.ts'
import { spawnInNs } from './process.ts'
import { deleteNamespace, LAB_DIR_PREFIX, labPrefixFor, sweepOwnLabsSync, sweepStaleLabs } from './sweep.ts'
import type { NatKind } from './nat.ts'
import type { LabProcess } from './process.ts'

/**
 * The WAN segment. libp2p counts RFC 1918, 100.64/10 and the TEST-NETs as private and would
 * never confirm or hole-punch them, so the WAN uses a globally routed block. It exists only
 * inside the lab's namespaces, which have no route out: nothing of it reaches the real network,
 * and the root namespace gets no address or route in it.
 */
export const WAN_PREFIX = '11.77.0'
export const WAN_CIDR = `${WAN_PREFIX}.0/24`
/** Site LANs are 10.77.<site index + 1>.0/24, private as a real LAN behind NAT. */
export const LAN_PREFIX = '10.77'
/** Every range the lab uses, for the "root namespace untouched" check. */
export const LAB_RANGES = ['11.77.0.0/16', '10.77.0.0/16']

/** Whether dotted IPv4 `addr` falls in one of LAB_RANGES (both are /16: the first two octets decide). */
export function inLabRanges (addr: string): boolean {
  const head = addr.split('.').slice(0, 2).join('.')
  return LAB_RANGES.some(r => r.startsWith(`${head}.`) && r.endsWith('/16'))
}

export interface SiteSpec { name: string, nat: NatKind, hosts: string[] }
export interface LabSpec {
  /** Hosts directly on the WAN segment, each with its own public address. */
  public: string[]
  sites: SiteSpec[]
}

export interface LabHost {
  name: string
  ns: string
  /** The host's own address. */
  ip: string
  /** Its site, or undefined for a host on the WAN itself. */
  site?: string
  /** The address the WAN sees it from: its own, or its router's. */
  publicIp: string
}

export interface LabSite {
  name: string
  nat: NatKind
  routerNs: string
  wanIp: string
  lanCidr: string
  hosts: string[]
  /** miniupnpd, on a upnp site. */
  upnp?: LabProcess
}

export type CutMethod = 'link' | 'drop'

const NAME = /^[a-z][a-z0-9]{0,11}$/

/**
 * A WAN lab: a switch namespace (bridge `br0`) for the WAN segment, a router namespace per site
 * doing NAT with nftables (and miniupnpd on a upnp site), a namespace per host. Everything the lab
 * makes is a namespace named `dlab<PID>n<K>-...`, so deleting them (after killing what runs in them)
 * deletes the veth pairs, bridges and nft tables too.
 */
export class Lab {
  readonly prefix: string
  readonly hosts = new Map<string, LabHost>()
  readonly sites = new Map<string, LabSite>()
  readonly processes: LabProcess[] = []
  readonly namespaces: string[] = []
  /** A scratch directory for config files and node directories; removed by destroy(). */
  dir = ''
  private destroyed = false
  private readonly onExit = (): void => { sweepOwnLabsSync() }

  private static count = 0

  private constructor () {
    this.prefix = `${labPrefixFor(process.pid)}${Lab.count++}-`
  }

  get wanNs (): string { return `${this.prefix}wan` }

  /**
   * Builds the lab of `spec`. A stale lab of a dead process is swept first; when the build fails
   * half way, what was made is deleted before the error is thrown.
   */
  static async create (spec: LabSpec): Promise<Lab> {
    const names = [...spec.public, ...spec.sites.map(s => s.name), ...spec.sites.flatMap(s => s.hosts)]
    for (const n of names) { if (!NAME.test(n)) { throw new Error(`lab name ${JSON.stringify(n)} must be 1-12 characters of [a-z0-9], starting with a letter`) } }
    if (new Set(names).size !== names.length) { throw new Error('lab host and site names must be distinct') }
    if (spec.public.length > 100 || spec.sites.length > 50 || spec.sites.some(s => s.hosts.length > 200)) { throw new Error('lab too large for its address plan') }
    await sweepStaleLabs()
    const lab = new Lab()
    process.once('exit', lab.onExit)
    try {
      lab.dir = await mkdtemp(join(tmpdir(), `${LAB_DIR_PREFIX}${process.pid}-`))
      await lab.build(spec)
    } catch (err) {
      await lab.destroy()
      throw err
    }
    return lab
  }

  private async addNs (role: string): Promise<string> {
    const ns = `${this.prefix}${role}`
    await ip('netns', 'add', ns)
    this.namespaces.push(ns)
    await ipIn(ns, 'link', 'set', 'lo', 'up')
    return ns
  }

  private async build (spec: LabSpec): Promise<void> {
    const wan = await this.addNs('wan')
    await ipIn(wan, 'link', 'add', 'br0', 'type', 'bridge')
    await ipIn(wan, 'link', 'set', 'br0', 'up')
    // A switch port per WAN member, `p-<name>` on the switch and `wan0` (router) or `eth0` (host) on the member.
    const attach = async (ns: string, name: string, dev: string, addr: string): Promise<void> => {
      await ip('link', 'add', `p-${name}`, 'netns', wan, 'type', 'veth', 'peer', 'name', dev, 'netns', ns)
      await ipIn(wan, 'link', 'set', `p-${name}`, 'master', 'br0')
      await ipIn(wan, 'link', 'set', `p-${name}`, 'up')
      await ipIn(ns, 'addr', 'add', `${addr}/24`, 'dev', dev)
      await ipIn(ns, 'link', 'set', dev, 'up')
    }
    for (const [i, name] of spec.public.entries()) {
      const ns = await this.addNs(`h-${name}`)
      const addr = `${WAN_PREFIX}.${100 + i}`
      await attach(ns, name, 'eth0', addr)
      this.hosts.set(name, { name, ns, ip: addr, publicIp: addr })
    }
    for (const [i, s] of spec.sites.entries()) {
      const router = await this.addNs(`r-${s.name}`)
      const wanIp = `${WAN_PREFIX}.${10 + i}`
      const lanNet = `${LAN_PREFIX}.${i + 1}`
      await attach(router, s.name, 'wan0', wanIp)
      await ipIn(router, 'link', 'add', 'lan0', 'type', 'bridge')
      await ipIn(router, 'addr', 'add', `${lanNet}.1/24`, 'dev', 'lan0')
      await ipIn(router, 'link', 'set', 'lan0', 'up')
      await inNs(router, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1'])
      await nft(router, routerRuleset(s.nat))
      const site: LabSite = { name: s.name, nat: s.nat, routerNs: router, wanIp, lanCidr: `${lanNet}.0/24`, hosts: [...s.hosts] }
      this.sites.set(s.name, site)
      for (const [j, name] of s.hosts.entries()) {
        const ns = await this.addNs(`h-${name}`)
        const addr = `${lanNet}.${10 + j}`
        await ip('link', 'add', `l-${name}`, 'netns', router, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns)
        await ipIn(router, 'link', 'set', `l-${name}`, 'master', 'lan0')
        await ipIn(router, 'link', 'set', `l-${name}`, 'up')
        await ipIn(ns, 'addr', 'add', `${addr}/24`, 'dev', 'eth0')
        await ipIn(ns, 'link', 'set', 'eth0', 'up')
        await ipIn(ns, 'route', 'add', 'default', 'via', `${lanNet}.1`)
        this.hosts.set(name, { name, ns, ip: addr, site: s.name, publicIp: wanIp })
      }
      if (s.nat === 'upnp') {
        site.upnp = await startMiniupnpd(router, this.dir, site.lanCidr, randomUUID())
        this.processes.push(site.upnp)
      }
    }
  }

  host (name: string): LabHost {
    const h = this.hosts.get(name)
    if (h == null) { throw new Error(`no lab host ${name}`) }
    return h
  }

  site (name: string): LabSite {
    const s = this.sites.get(name)
    if (s == null) { throw new Error(`no lab site ${name}`) }
    return s
  }

  /** Starts `argv` on host `host` (its namespace); the lab stops it on destroy() if the caller did not. */
  spawn (host: string, name: string, argv: string[], env: Record<string, string> = {}, opts: { stdin?: boolean } = {}): LabProcess {
    const p = spawnInNs(this.host(host).ns, name, argv, env, opts)
    this.processes.push(p)
    return p
  }

  /** Runs `argv` on host `host` to completion (deadline `timeoutMs`), returning its stdout. */
  async exec (host: string, argv: string[], opts: { input?: string, timeoutMs?: number } = {}): Promise<string> {
    return inNs(this.host(host).ns, argv[0], argv.slice(1), opts)
  }

  /**
   * Cuts site `name` off the WAN: `link` takes its switch port down (carrier lost), `drop` leaves
   * the link up and drops everything crossing the router's uplink with an nft table.
   */
  async cutUplink (name: string, how: CutMethod = 'link'): Promise<void> {
    const s = this.site(name)
    if (how === 'link') { await ipIn(this.wanNs, 'link', 'set', `p-${name}`, 'down') } else { await nft(s.routerNs, cutRuleset()) }
  }

  async restoreUplink (name: string, how: CutMethod = 'link'): Promise<void> {
    const s = this.site(name)
    if (how === 'link') { await ipIn(this.wanNs, 'link', 'set', `p-${name}`, 'up') } else { await run('ip', ['netns', 'exec', s.routerNs, 'nft', 'delete', 'table', 'inet', 'dlab_cut']) }
  }

  /** Random loss on site `name`'s uplink (router `wan0`) or a WAN host's `eth0`; 0 removes it. */
  async setLoss (name: string, percent: number): Promise<void> {
    if (!Number.isInteger(percent) || percent < 0 || percent > 50) { throw new Error('loss must be an integer percentage from 0 to 50') }
    const site = this.sites.get(name)
    const [ns, dev] = site != null ? [site.routerNs, 'wan0'] : [this.host(name).ns, 'eth0']
    await run('ip', ['netns', 'exec', ns, 'nft', 'delete', 'table', 'inet', 'dlab_loss']).catch(() => {})
    if (percent > 0) { await nft(ns, lossRuleset(dev, percent)) }
  }

  /** Counts the bytes crossing WAN host `name`'s `eth0` from now on (an nft counter each way). */
  async countTraffic (name: string): Promise<void> {
    await nft(this.host(name).ns, `table inet dlab_count {
  chain input { type filter hook input priority filter - 30; policy accept; iifname "eth0" counter; }
  chain output { type filter hook output priority filter - 30; policy accept; oifname "eth0" counter; }
}
`)
  }

  /** The bytes counted by countTraffic(name) so far, in and out. */
  async trafficBytes (name: string): Promise<{ in: number, out: number }> {
    const text = await run('ip', ['netns', 'exec', this.host(name).ns, 'nft', 'list', 'table', 'inet', 'dlab_count'])
    const bytes = [...text.matchAll(/counter packets \d+ bytes (\d+)/g)].map(m => Number(m[1]))
    return { in: bytes[0] ?? 0, out: bytes[1] ?? 0 }
  }

  /** The router's live ruleset (miniupnpd's mappings show here). */
  async routerRules (name: string): Promise<string> {
    return run('ip', ['netns', 'exec', this.site(name).routerNs, 'nft', 'list', 'ruleset'])
  }

  /**
   * Stops every process the lab started (SIGTERM, then SIGKILL), then deletes its namespaces
   * (killing anything still inside) and its scratch directory. Safe to call twice.
   */
  async destroy (opts: { keepDir?: boolean, logsTo?: string } = {}): Promise<void> {
    if (this.destroyed) { return }
    this.destroyed = true
    await Promise.all(this.processes.map(async p => p.stop(5_000).catch(() => {})))
    if (opts.logsTo != null) {
      // What each process printed, for a post-mortem: `<n>-<name>.out` (stdout) and `.err` (stderr).
      await mkdir(opts.logsTo, { recursive: true })
      for (const [i, p] of this.processes.entries()) {
        const base = join(opts.logsTo, `${String(i).padStart(2, '0')}-${p.name.replace(/[^A-Za-z0-9.-]+/g, '_')}`)
        await writeFile(`${base}.out`, p.stdout())
        await writeFile(`${base}.err`, p.stderr())
      }
    }
    for (const ns of [...this.namespaces].reverse()) { await deleteNamespace(ns) }
    if (this.dir !== '' && opts.keepDir !== true) { await rm(this.dir, { recursive: true, force: true }) }
    process.off('exit', this.onExit)
  }
}
