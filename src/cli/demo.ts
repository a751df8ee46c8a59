/**
 * `npm start`: a self-contained local mesh. A CA served over HTTPS on loopback, with its own mesh
 * node (what `ca serve --mesh-dir` runs); five nodes enrolled through its real `POST /v1/enroll`,
 * each started as `node start` runs it (QUIC on its own loopback address, one bootstrap address,
 * CRL poll, admin API), and every node's peer table read back through its admin API over mutual
 * TLS. Then an anomaly signature published on node-1 arrives on every node, and an operator
 * revokes node-5: everyone cuts it off, and the demo prints how long that took. Last, node-1
 * sends a bundle to node-6, enrolled but not running; node-6 starts and gets it. Everything lives
 * in a temporary directory that is removed at the end.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MeshCa } from '../ca/index.ts'
import { nodeApiGet } from '../daemon/api/client.ts'
import { startCaMeshPublisher } from '../daemon/ca-mesh-publisher.ts'
import { enrollNode } from '../daemon/enroll/enroll-node.ts'
import { startNodeRuntime } from '../daemon/runtime/node-runtime.ts'
import { CaService } from '../enrollment/ca-service.ts'
import { issueServerTls, serverNames } from '../enrollment/server-cert.ts'
import { createEnrollmentServer } from '../enrollment/server.ts'
import { MIN_SCRYPT_LOG_N } from '../identity/key-file.ts'
import { installQuicRejectionGuard } from '../node/quic-late-rejection.ts'
import { issueSessionCredential } from '../pki/session-cert.ts'
import { formatTable } from './commands/node-peers.ts'
import { showOfflineBundle } from './demo-bundle.ts'
import { showGossip, showRevocation } from './demo-gossip.ts'
import type { NodeRuntime } from '../daemon/runtime/node-runtime.ts'
import type { EnrollmentServer } from '../enrollment/server.ts'
import type { PeerTableRow } from '../node/peer-table.ts'

const NODES = 5
/** A demo passphrase for throw-away keys; real deployments take theirs from DADM_MESH_PASSPHRASE. */
const PASS = 'dadm-mesh local demo'
const FORM_DEADLINE_MS = 60_000

const say = (s: string): void => { process.stdout.write(s + '\n') }

async function demo (base: string, cleanups: Array<() => Promise<void>>): Promise<boolean> {
  // 1. The CA and its enrollment service on loopback.
  const ca = await MeshCa.init({ dir: join(base, 'ca'), passphrase: PASS, now: new Date(), scryptLogN: MIN_SCRYPT_LOG_N })
  const service = await CaService.wrap(ca)
  cleanups.push(async () => { await service.close() })
  const tls = await issueServerTls(ca, serverNames('127.0.0.1'), new Date())
  const server: EnrollmentServer = await createEnrollmentServer({ ca: service, config: { tls, clientCaPem: ca.rootPem } })
  cleanups.push(async () => { await server.close() })
  const { url } = await server.listen({ host: '127.0.0.1', port: 0 })
  service.useCrlUrl(`${url}/v1/crl`)
  say(`CA: enrollment service on ${url} (root ${ca.rootCertificate.subject.text})`)
  // The CA's own mesh node, enrolled from the CA itself: it publishes every revocation to the mesh.
  const publisher = await startCaMeshPublisher({
    service,
    dir: join(base, 'ca-mesh'),
    passphrase: PASS,
    caUrl: url,
    scryptLogN: MIN_SCRYPT_LOG_N,
    options: { listen: ['/ip4/127.0.0.10/udp/0/quic-v1'], transports: { quic: true, tcp: false }, mdns: { enabled: false } }
  })
  cleanups.push(async () => { await publisher.stop() })
  const caNode = publisher.runtime.node.getMultiaddrs()[0].toString()
  say(`CA: mesh node ${publisher.runtime.dir.nodeId} on ${caNode}`)

  // 2. Five nodes enrolled through POST /v1/enroll with single-use tokens.
  const dirs: string[] = []
  for (let i = 1; i <= NODES; i++) {
    const dir = join(base, `node-${i}`)
    const { token } = await service.createToken({ nodeId: `node-${i}`, ttlMs: 600_000, uses: 1 }, new Date())
    const { node } = await enrollNode({ dir, caUrl: url, caCertPem: ca.rootPem, token, nodeId: `node-${i}`, passphrase: PASS, scryptLogN: MIN_SCRYPT_LOG_N })
    say(`enrolled ${node.node_id}: peer ${node.peer_id}, certificate ${node.serial}`)
    dirs.push(dir)
  }

  // 3. Start them: QUIC on 127.0.0.1x, node-1 is everyone's bootstrap address (the CA node is
  // node-1's), no mDNS.
  const runtimes: NodeRuntime[] = []
  for (let i = 0; i < NODES; i++) {
    const r = await startNodeRuntime({
      dir: dirs[i],
      passphrase: PASS,
      runFile: false,
      options: {
        listen: [`/ip4/127.0.0.${11 + i}/udp/0/quic-v1`],
        transports: { quic: true, tcp: false },
        mdns: { enabled: false },
        bootstrap: i === 0 ? [caNode] : [runtimes[0].node.getMultiaddrs()[0].toString()]
      }
    })
    cleanups.push(async () => { await r.stop() })
    runtimes.push(r)
    say(`started ${r.dir.nodeId} on ${r.node.getMultiaddrs().map(String).join(' ')}, admin API ${r.apiUrl ?? 'off'}`)
  }

  // 4. Wait (bounded) until every node holds an authenticated link to every other (and, for
  // the revocation below, the CA node to some).
  const t0 = Date.now()
  const nodeLinks = (rows: PeerTableRow[]): PeerTableRow[] => rows.filter(p => p.status === 'authenticated' && p.node_id.startsWith('node-'))
  const complete = (): boolean => runtimes.every(r => nodeLinks(r.node.peers.rows()).length === NODES - 1) && publisher.runtime.node.peers.rows().some(p => p.status === 'authenticated')
  while (!complete() && Date.now() - t0 < FORM_DEADLINE_MS) { await new Promise(resolve => setTimeout(resolve, 100)) }
  say(`\nmesh formed in ${Date.now() - t0} ms\n`)

  // 5. Each node's table, read through its admin API as the node itself (mutual TLS).
  let links = 0
  for (const r of runtimes) {
    const credential = await issueSessionCredential({ signer: r.dir.identity.signer(), nodeChain: r.dir.chain, now: new Date(), validityMs: 60_000 })
    const rows = await nodeApiGet('/v1/mesh/peers', { url: r.apiUrl as string, credential, expectedPeerId: r.dir.peerId, roots: r.dir.roots, intermediates: r.dir.intermediates }) as PeerTableRow[]
    links += nodeLinks(rows).filter(p => p.transport === 'quic').length
    say(`${r.dir.nodeId} (GET /v1/mesh/peers):`)
    say(formatTable(rows).trimEnd().replace(/^/gm, '  '))
  }
  const expected = NODES * (NODES - 1)
  say(`${links}/${expected} links authenticated over QUIC\n`)

  // 6. Gossip: an anomaly signature from node-1 reaches every node's store.
  const gossiped = await showGossip(runtimes, say)
  // 7. Revocation: the operator revokes node-5; the CA node pushes and gossips the CRL.
  const revoked = await showRevocation(url, service, publisher, runtimes, say)
  // 8. DTN: a bundle for a node that is offline, delivered when it starts.
  const bundled = await showOfflineBundle({ service, caUrl: url, caPem: ca.rootPem, base, passphrase: PASS, runtimes: runtimes.slice(0, NODES - 1), cleanups, say })
  return links === expected && gossiped && revoked && bundled
}

// Six nodes come and go on one machine: a peer's stream closing late must not end the demo.
installQuicRejectionGuard()
const base = await mkdtemp(join(tmpdir(), 'dadm-mesh-demo-'))
const cleanups: Array<() => Promise<void>> = []
let ok = false
try {
  ok = await demo(base, cleanups)
} catch (err) {
  process.stderr.write(`demo failed: ${(err as Error).message}\n`)
} finally {
  for (const c of cleanups.reverse()) { await c().catch(() => {}) }
  await rm(base, { recursive: true, force: true })
}
process.exitCode = ok ? 0 : 1
