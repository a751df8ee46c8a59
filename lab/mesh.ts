import { mkdir, readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startAgent } from './agent-client.ts'
import type { Agent } from './agent-client.ts'
import type { LabProcess } from './process.ts'
import type { Lab } from './topology.ts'

/** The real command line, run as its own process in a host's namespace. */
export const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'dadm-mesh.js')
const PASSPHRASE = 'dadm-mesh WAN lab passphrase'
export const LAB_ENV = { DADM_MESH_PASSPHRASE: PASSPHRASE }
/** The CA's HTTPS port and the fixed QUIC ports of the public hosts (restarts keep their addresses). */
export const CA_PORT = 8443
export const PUBLIC_QUIC_PORT = 4001
export const CA_MESH_QUIC_PORT = 4002
/** A start includes decrypting keys (scrypt) and opening LevelDB on a shared, loaded machine. */
const START_MS = 180_000
const CLI_MS = 60_000

export type NodeRole = 'node' | 'bootstrap-server'

export interface LabNode {
  nodeId: string
  host: string
  dir: string
  role: NodeRole
  peerId: string
  /** The flags it was started with (a restart reuses them). */
  args: string[]
  proc: LabProcess
  /** The addresses its start line printed. */
  addrs: string[]
  agent: Agent
}

export interface PeerRow { node_id: string, peer_id: string, status: string, transport: string, [k: string]: unknown }

/**
 * A mesh in a lab: the CA (`ca serve` with its mesh node) on one host, nodes enrolled with
 * `dadm-mesh node enroll` over HTTPS across the NATs, and `node start` / `bootstrap-server`
 * processes, each watched through an agent (agent.ts) on its host.
 */
export class LabMesh {
  readonly lab: Lab
  readonly nodes = new Map<string, LabNode>()
  readonly caDir: string
  caHost = ''
  caUrl = ''
  ca?: LabProcess
  /** The CA's mesh node: node_id, peer id, and the bootstrap address the others use. */
  caMesh?: { nodeId: string, peerId: string, addr: string }

  constructor (lab: Lab) {
    this.lab = lab
    this.caDir = join(lab.dir, 'ca')
  }

  /** Runs `dadm-mesh ARGS` on `host` to completion; throws with its stderr on a non-zero exit. */
  async cli (host: string, args: string[], timeoutMs = CLI_MS): Promise<string> {
    return this.lab.exec(host, ['env', ...Object.entries(LAB_ENV).map(([k, v]) => `${k}=${v}`), process.execPath, BIN, ...args], { timeoutMs })
  }

  /**
   * `ca init`, then `ca serve` on `host`'s WAN address with the CA's mesh node on a fixed QUIC port
   * (every revocation goes onto the mesh at once).
   */
  async startCa (host: string): Promise<void> {
    this.caHost = host
    const ip = this.lab.host(host).ip
    await this.cli(host, ['ca', 'init', '--dir', this.caDir])
    this.ca = this.lab.spawn(host, 'ca serve', [process.execPath, BIN, 'ca', 'serve', '--dir', this.caDir, '--listen', `${ip}:${CA_PORT}`,
      '--mesh-dir', join(this.lab.dir, 'ca-mesh'), '--mesh-node-id', 'ca-mesh', '--mesh-listen', `/ip4/${ip}/udp/${CA_MESH_QUIC_PORT}/quic-v1`], LAB_ENV)
    const m = await this.ca.waitFor(/listening on (https:\/\/\S+);/, START_MS)
    this.caUrl = m[1]
    const mesh = /mesh node (\S+) \(peer (\S+)\)/.exec(this.ca.stderr())
    if (mesh != null) {
      this.caMesh = { nodeId: mesh[1], peerId: mesh[2], addr: `/ip4/${ip}/udp/${CA_MESH_QUIC_PORT}/quic-v1/p2p/${mesh[2]}` }
    }
  }

  /** An enrollment token for `uses` enrollments, from the running CA (through its admin socket). */
  async token (uses: number): Promise<string> {
    const out = await this.cli(this.caHost, ['ca', 'token', '--dir', this.caDir, '--uses', String(uses), '--ttl', '1h', '--json'])
    return (JSON.parse(out) as { token: string }).token
  }

  /** `node enroll` on `host` with `token`, over HTTPS to the CA across whatever NAT is between them. */
  async enroll (host: string, nodeId: string, token: string): Promise<string> {
    const dir = join(this.lab.dir, 'nodes', nodeId)
    await mkdir(dirname(dir), { recursive: true })
    await this.cli(host, ['node', 'enroll', '--dir', dir, '--ca-url', this.caUrl, '--ca-cert', join(this.caDir, 'root.pem'),
      '--token', token, '--node-id', nodeId, '--key-store', 'software'])
    return dir
  }

  /**
   * The bootstrap address of a started node on a public host listening on `port`: what its operator
   * hands out. Built from the host's address, not from the start line, which lists only the
   * addresses libp2p has verified.
   */
  bootstrapAddr (nodeId: string, port: number): string {
    const n = this.node(nodeId)
    return `/ip4/${this.lab.host(n.host).publicIp}/udp/${port}/quic-v1/p2p/${n.peerId}`
  }

  /**
   * Starts an enrolled node: `node start` (or `bootstrap-server`) with `args`, waits for its start
   * line, then its agent. QUIC only and no mDNS: the WAN is the only way between sites.
   */
  async start (host: string, nodeId: string, role: NodeRole, args: string[]): Promise<LabNode> {
    const dir = join(this.lab.dir, 'nodes', nodeId)
    const full = ['--dir', dir, '--no-mdns', '--no-tcp', ...args]
    const proc = this.lab.spawn(host, `${nodeId} ${role}`, [process.execPath, BIN, ...role.split(' '), ...(role === 'node' ? ['start'] : []), ...full], LAB_ENV)
    const m = await proc.waitFor(/\(peer (\S+)\) listening on (.*); api /, START_MS)
    const existing = this.nodes.get(nodeId)
    const agent = existing?.agent ?? await startAgent(this.lab, host, dir, LAB_ENV)
    const node: LabNode = { nodeId, host, dir, role, peerId: m[1], args, proc, addrs: m[2].trim().split(/\s+/), agent }
    this.nodes.set(nodeId, node)
    return node
  }

  /** Starts `nodeId` again with the flags it had (same NODEDIR, so the same keys and kept ports). */
  async restart (nodeId: string): Promise<LabNode> {
    const n = this.node(nodeId)
    if (n.proc.running()) { await n.proc.stop() }
    return this.start(n.host, nodeId, n.role, n.args)
  }

  node (nodeId: string): LabNode {
    const n = this.nodes.get(nodeId)
    if (n == null) { throw new Error(`no lab node ${nodeId}`) }
    return n
  }

  /** `GET /v1/mesh/peers` of a running node. */
  async peers (nodeId: string): Promise<PeerRow[]> {
    return this.node(nodeId).agent.get<PeerRow[]>('/v1/mesh/peers')
  }

  /** node_ids `nodeId` holds authenticated now; null when it does not answer (stopped, cut off from its own API). */
  async authenticated (nodeId: string): Promise<Set<string> | null> {
    try {
      return new Set((await this.peers(nodeId)).filter(r => r.status === 'authenticated').map(r => r.node_id))
    } catch {
      return null
    }
  }

  /** The JSON log lines (pino, stdout) of a node with message `msg`. */
  logLines (nodeId: string, msg: string): Array<Record<string, unknown>> {
    const out: Array<Record<string, unknown>> = []
    for (const line of this.node(nodeId).proc.stdout().split('\n')) {
      if (!line.includes(msg)) { continue }
      try {
        const j = JSON.parse(line) as Record<string, unknown>
        if (j.msg === msg) { out.push(j) }
      } catch {}
    }
    return out
  }

  /** The node's certificate serial from its node.json (for revocation checks). */
  async nodeFile (nodeId: string): Promise<Record<string, unknown>> {
    return JSON.parse(await readFile(join(this.node(nodeId).dir, 'node.json'), 'utf8'))
  }
}
