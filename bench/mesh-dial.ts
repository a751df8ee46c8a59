import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { hostKeyToPkcs8 } from '../src/identity/host-key.ts'
import { MIN_SCRYPT_LOG_N } from '../src/identity/key-file.ts'
import { generatePkcs8, softwareKeyFromPkcs8 } from '../src/identity/software-key.ts'
import { createCsr } from '../src/ca/csr-builder.ts'
import { MeshCa } from '../src/ca/index.ts'
import { pemToDerAll } from '../src/util/pem.ts'
import { startPair } from './mesh-dial-node.ts'
import { median } from './types.ts'
import type { NodeMaterial, Transport } from './mesh-dial-node.ts'
import type { BenchResult } from './types.ts'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * The dial benchmark: the median time of a dial that ends with mutual mesh auth, against
 * the median time of a raw dial (transport handshake only) measured in the same run, for QUIC
 * and for TCP + TLS 1.3 + yamux. Dials alternate raw / auth so that machine load hits both alike.
 * Mesh nodes verify chains through the caching ChainVerifier, as a production node should.
 *
 * Two set-ups: both ends in this process (one event loop serves both, so every step of the
 * exchange queues behind the other end's work), and the listening end in a child process (its
 * own event loop, as on another machine). The ratio goal is judged on the second.
 */
const DIALS = 150
const WARM_UP = 5

const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

async function material (ca: MeshCa, transport: Transport, nodeId: string): Promise<NodeMaterial> {
  const hostKey = await generateKeyPair('Ed25519')
  const identityPkcs8 = await generatePkcs8('P-256')
  const identity = await softwareKeyFromPkcs8(nodeId, 'P-256', identityPkcs8, false)
  const csr = await createCsr(identity, { nodeId, peerId: peerIdFromPrivateKey(hostKey).toString() })
  const issued = await ca.issue({ csr, now: new Date(), nodeId })
  return {
    transport,
    hostKeyPkcs8: toHex(hostKeyToPkcs8(hostKey)),
    identityPkcs8: toHex(identityPkcs8),
    chain: [issued.der, ...pemToDerAll(issued.chainPem, 'CERTIFICATE')].map(toHex),
    root: toHex(ca.rootCertificate.der)
  }
}

/** Starts the listening end in a child process; returns its two addresses and a stop function. */
async function childListener (m: NodeMaterial): Promise<{ raw: Multiaddr, mesh: Multiaddr, stop(): Promise<void> }> {
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js'
  const script = fileURLToPath(new URL(`./mesh-dial-node${ext}`, import.meta.url))
  const child = spawn(process.execPath, [script], { stdio: ['pipe', 'pipe', 'inherit'] })
  child.stdin.write(JSON.stringify(m) + '\n')
  const lines = createInterface({ input: child.stdout })
  const first = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error('listener child did not start in 30 s')) }, 30_000)
    lines.once('line', (line) => { clearTimeout(timer); resolve(line) })
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`listener child exited with ${code}`)) })
  })
  const addrs = JSON.parse(first)
  return {
    raw: multiaddr(addrs.raw),
    mesh: multiaddr(addrs.mesh),
    stop: async () => {
      const exited = new Promise(resolve => child.once('exit', resolve))
      child.stdin.end()
      await exited
      lines.close()
    }
  }
}

async function measure (ca: MeshCa, transport: Transport, where: 'same process' | 'child process'): Promise<BenchResult[]> {
  const dialer = await startPair(await material(ca, transport, `bench-${transport}-dialer`))
  const listenerMaterial = await material(ca, transport, `bench-${transport}-listener`)
  const listener = where === 'same process'
    ? await startPair(listenerMaterial).then(p => ({ raw: p.raw.getMultiaddrs()[0], mesh: p.mesh.getMultiaddrs()[0], stop: p.stop }))
    : await childListener(listenerMaterial)
  try {
    const raw: number[] = []
    const mesh: number[] = []
    for (let i = 0; i < DIALS + WARM_UP; i++) {
      let t0 = performance.now()
      const rawConnection = await dialer.raw.dial(listener.raw)
      const r = performance.now() - t0
      await rawConnection.close()
      t0 = performance.now()
      const peer = await dialer.mesh.dial(listener.mesh)
      const m = performance.now() - t0
      await Promise.all(dialer.mesh.libp2p.getConnections().filter(c => c.remotePeer.toString() === peer.peerId).map(async c => { await c.close() }))
      if (i >= WARM_UP) { raw.push(r); mesh.push(m) }
    }
    const withAuth = median(mesh)
    const bare = median(raw)
    const label = `${transport === 'quic' ? 'QUIC' : 'TCP+TLS'}, listener in ${where}:`
    const judged = where === 'child process'
    return [
      { name: `${label} dial with mesh auth (median of ${DIALS})`, value: withAuth, unit: 'ms' },
      { name: `${label} raw dial, no mesh auth`, value: bare, unit: 'ms' },
      { name: `${label} auth dial / raw dial`, value: withAuth / bare, unit: 'x', baseline: 'raw dial', ratio: withAuth / bare, goal: judged ? '<= 2.0' : 'info', ...(judged ? { met: withAuth / bare <= 2.0 } : {}) }
    ]
  } finally {
    await Promise.all([dialer.stop(), listener.stop()])
  }
}

/** Runs the QUIC and TCP+TLS dial comparisons, in-process and across processes. */
export async function benchMeshDial (): Promise<BenchResult[]> {
  const base = await mkdtemp(join(tmpdir(), 'dadm-bench-dial-'))
  const ca = await MeshCa.init({ dir: join(base, 'ca'), passphrase: 'bench', now: new Date(Date.now() - 3600_000), scryptLogN: MIN_SCRYPT_LOG_N })
  try {
    const out: BenchResult[] = []
    for (const transport of ['quic', 'tcp'] as const) {
      for (const where of ['child process', 'same process'] as const) { out.push(...await measure(ca, transport, where)) }
    }
    return out
  } finally {
    await ca.close()
    await rm(base, { recursive: true, force: true })
  }
}
