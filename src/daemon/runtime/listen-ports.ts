import { multiaddr } from '@multiformats/multiaddr'
import { nodePaths, writeFileAtomic } from '../enroll/node-files.ts'
import { NodeRuntimeError } from './errors.ts'
import type { MeshNodeConfig } from '../../node/config.ts'
import type { NodeFile } from '../enroll/node-files.ts'
import type { NodeFileStore } from '../lifecycle/node-state.ts'
import type { Libp2p } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * Stable addresses across restarts. A node's addresses are what its peers, the DHT and the
 * operator's `--announce` and port forwards know it by; a port that changed on every start would
 * make each of them stale. So the first start picks free ports (port 0) and records the ports it
 * got in node.json (`listen`); later starts listen there again. `--listen` overrides node.json for
 * one run and is not recorded (an operator who names a port has chosen it already).
 *
 * node.json may also carry `announce` (addresses to advertise besides the listen addresses) and
 * `dht_mode`; the flags override them.
 */

/** Listen, announce and DHT-mode entries node.json may hold, bounded like every list it reads. */
const MAX_ADDRS = 32

const WILDCARD = { quic: '/ip4/0.0.0.0/udp/0/quic-v1', tcp: '/ip4/0.0.0.0/tcp/0' } as const

type Kind = 'quic' | 'tcp'

function kindOf (addr: string): Kind | undefined {
  if (addr.includes('/quic-v1')) { return 'quic' }
  if (addr.includes('/tcp/')) { return 'tcp' }
  return undefined
}

export interface NetworkPlan {
  /** The node's options with listen, announce and DHT mode filled in. */
  config: MeshNodeConfig
  /** Record the bound ports in node.json once listening: the listen list came from defaults. */
  pin: boolean
}

/**
 * Works out listen, announce and DHT mode: the flags (in `config`) over node.json over defaults.
 * Refuses a node.json whose entries are not multiaddrs (NODE_DIR_INVALID, naming the key).
 */
export function planNetwork (file: NodeFile, config: MeshNodeConfig): NetworkPlan {
  const transports = { quic: config.transports?.quic !== false, tcp: config.transports?.tcp !== false }
  const stored = checkedList(file.listen, 'listen')
  const announce = config.announce != null && config.announce.length > 0 ? config.announce : checkedList(file.announce, 'announce')
  const dhtMode = config.dht?.mode ?? checkedMode(file.dht_mode)
  const dht = dhtMode != null ? { dht: { ...config.dht, mode: dhtMode } } : {}
  if (config.listen != null && config.listen.length > 0) {
    return { config: { ...config, announce, ...dht }, pin: false }
  }
  // node.json's addresses of the enabled transports; a transport enabled since gets a fresh port.
  const listen = stored.filter(a => { const k = kindOf(a); return k != null && transports[k] })
  for (const k of ['quic', 'tcp'] as const) {
    if (transports[k] && !listen.some(a => kindOf(a) === k)) { listen.push(WILDCARD[k]) }
  }
  return { config: { ...config, listen, announce, ...dht }, pin: listen.some(hasPortZero) }
}

function hasPortZero (addr: string): boolean {
  return /\/(udp|tcp)\/0(\/|$)/.test(addr)
}

function checkedList (value: unknown, key: string): string[] {
  if (value == null) { return [] }
  if (!Array.isArray(value) || value.length > MAX_ADDRS) { throw new NodeRuntimeError('NODE_DIR_INVALID', `node.json "${key}" must be a list of at most ${MAX_ADDRS} multiaddrs`) }
  for (const a of value) {
    try {
      if (typeof a !== 'string') { throw new Error('not a string') }
      multiaddr(a)
    } catch (err) {
      throw new NodeRuntimeError('NODE_DIR_INVALID', `node.json "${key}" holds ${JSON.stringify(a)}, which is not a multiaddr`, { cause: err })
    }
  }
  return [...value] as string[]
}

function checkedMode (value: unknown): 'auto' | 'server' | 'client' | undefined {
  if (value == null) { return undefined }
  if (value === 'auto' || value === 'server' || value === 'client') { return value }
  throw new NodeRuntimeError('NODE_DIR_INVALID', 'node.json "dht_mode" must be auto, server or client')
}

/**
 * The addresses the transports bound, as libp2p reports each listener ('transport:listening').
 * Subscribed before the node starts; read once it runs. Unlike `getMultiaddrs()` it also holds
 * public addresses that are not verified yet.
 */
export function recordListeners (libp2p: Pick<Libp2p, 'addEventListener'>): () => Multiaddr[] {
  const listeners = new Set<{ getAddrs(): Multiaddr[] }>()
  libp2p.addEventListener('transport:listening', (evt) => { listeners.add(evt.detail) })
  return () => [...listeners].flatMap(l => l.getAddrs())
}

/** `listen` with each port 0 replaced by the port its transport bound (same transport and IP family). */
export function pinPorts (listen: string[], bound: Multiaddr[]): string[] {
  return listen.map(addr => {
    if (!hasPortZero(addr)) { return addr }
    const kind = kindOf(addr)
    const family = addr.startsWith('/ip6/') ? 'ip6' : 'ip4'
    for (const b of bound) {
      const s = b.toString()
      if (kindOf(s) !== kind || !s.startsWith(`/${family}/`)) { continue }
      const port = b.getComponents().find(c => c.name === (kind === 'quic' ? 'udp' : 'tcp'))?.value
      if (port != null && port !== '0') { return addr.replace(/\/(udp|tcp)\/0(?=\/|$)/, `/$1/${port}`) }
    }
    return addr
  })
}

/**
 * Records `listen` in node.json (through the one writer of node.json, so a rotation running at
 * the same moment keeps its fields), keeping stored entries of transports not in use this run.
 */
export async function recordListen (files: NodeFileStore, listen: string[]): Promise<void> {
  await files.update(async (dir, f) => {
    const kinds = new Set(listen.map(kindOf))
    const kept = (Array.isArray(f.listen) ? f.listen : []).filter(a => !kinds.has(kindOf(a)))
    const next: NodeFile = { ...f, listen: [...listen, ...kept] }
    await writeFileAtomic(nodePaths(dir).nodeJson, JSON.stringify(next, null, 2) + '\n', 0o600)
    return next
  })
}
