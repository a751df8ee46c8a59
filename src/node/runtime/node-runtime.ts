import { join } from 'node:path'
import { pino } from 'pino'
import { createNodeApiServer } from '../../api/server.ts'
import { issueSessionCredential } from '../../api/session-cert.ts'
import { scheduleServerTlsRenewal } from '../../enrollment/server-cert.ts'
import { CrlStateStore } from '../../store/crl-state.ts'
import { openStore } from '../../store/mesh-store.ts'
import { createMeshNode } from '../create-mesh-node.ts'
import { CrlManager } from './crl-manager.ts'
import { CrlPoller } from './crl-poller.ts'
import { NodeRuntimeError } from './errors.ts'
import { openNodeDir } from './node-dir.ts'
import { isProcessAlive, readRunFile, removeRunFile, writeRunFile } from './run-file.ts'
import type { CrlPollerOptions, CrlPollOutcome } from './crl-poller.ts'
import type { NodeDir } from './node-dir.ts'
import type { NodeApiServer } from '../../api/server.ts'
import type { MeshStore } from '../../store/mesh-store.ts'
import type { MeshNodeConfig } from '../config.ts'
import type { MeshNode } from '../mesh-node.ts'
import type { ComponentLogger } from '@libp2p/interface'
import type { Logger } from 'pino'

export interface NodeRuntimeInit {
  /** The enrolled node's directory (NODEDIR). */
  dir: string
  /** Decrypts the keys in NODEDIR/keys. */
  passphrase: string
  /** Node tunables; `bootstrap` adds to node.json's bootstrap peers. */
  options?: MeshNodeConfig
  /** Where the admin API listens, or false for none. @default 127.0.0.1, a free port */
  api?: { host: string, port: number } | false
  /** CRL poll tunables, or false to not poll. Polls only when node.json names a crl_url. */
  crl?: Partial<CrlPollerOptions> | false
  /** Operator log (JSON lines). @default silent */
  log?: Logger
  /** libp2p's logger (debug output per component). */
  libp2pLogger?: ComponentLogger
  /** Write NODEDIR/run.json for other commands. @default true */
  runFile?: boolean
  /** The clock, ms. @default Date.now */
  now?(): number
}

/** A node process's parts: one node, one LevelDB, its CRL state and poller, its admin API. */
export interface NodeRuntime {
  readonly dir: NodeDir
  readonly node: MeshNode
  readonly store: MeshStore
  readonly crl: CrlManager
  readonly poller?: CrlPoller
  readonly api?: NodeApiServer
  readonly apiUrl?: string
  /** Stops everything in reverse order and removes run.json. Idempotent. */
  stop(): Promise<void>
}

/** Session certificate of the API server: a day, or less if the node certificate ends sooner. */
const API_SESSION_MS = 24 * 3600 * 1000

/**
 * Starts an enrolled node as `dadm-mesh node start` runs it: loads NODEDIR, opens its one
 * LevelDB (`NODEDIR/db`), installs the persisted CRLs, starts the mesh node, polls the CA's CRL,
 * serves the admin API and writes run.json. Anything that fails half-way is undone.
 */
export async function startNodeRuntime (init: NodeRuntimeInit): Promise<NodeRuntime> {
  const now = init.now ?? Date.now
  const log = init.log ?? pino({ level: 'silent' })
  const nd = await openNodeDir(init.dir, init.passphrase, new Date(now()))
  if (init.runFile !== false) { await refuseIfRunning(init.dir) }
  const cleanups: Array<() => Promise<void>> = []
  const undo = async (): Promise<void> => {
    for (const c of cleanups.splice(0).reverse()) {
      await c().catch(err => { log.error({ err }, 'stop step failed') })
    }
  }
  try {
    const store = await openNodeStore(init.dir)
    cleanups.push(async () => { await store.close() })
    const crl = new CrlManager({
      verifier: nd.chainVerifier,
      store: new CrlStateStore(store),
      caCertificates: [...nd.roots, ...nd.intermediates],
      now,
      onHookError: err => { log.error({ err }, 'CRL hook failed') }
    })
    const persisted = await crl.loadPersisted()
    for (const s of persisted.skipped) { log.warn({ code: (s.error as { code?: string }).code }, 'stored CRL no longer verifies; skipped') }

    const node = await createMeshNode({ ...nd.init, options: meshOptions(nd, init.options), now, start: false, ...(init.libp2pLogger != null ? { logger: init.libp2pLogger } : {}) })
    cleanups.push(async () => { await node.stop() })
    await crl.attach(node)
    logNodeEvents(node, log)
    await node.start()
    const startedAt = new Date(now()).toISOString()

    let poller: CrlPoller | undefined
    const crlUrl = nd.file.config.crl_url
    if (init.crl !== false && crlUrl !== '') {
      poller = new CrlPoller({
        url: crlUrl,
        caPem: nd.rootPem,
        manager: crl,
        options: init.crl ?? {},
        onPoll: r => { logPoll(log, r) }
      })
      cleanups.push(async () => { await poller?.stop() })
      poller.start()
    }

    let api: NodeApiServer | undefined
    let apiUrl: string | undefined
    if (init.api !== false) {
      const tls = await issueSessionCredential({ signer: nd.identity.signer(), nodeChain: nd.chain, now: new Date(now()), validityMs: API_SESSION_MS })
      api = await createNodeApiServer({
        tls,
        clientCaPem: nd.rootPem,
        trust: { nodeId: nd.nodeId, roots: () => nd.roots, intermediates: () => nd.intermediates, crls: () => nd.chainVerifier.crls },
        source: {
          peers: () => node.peers.rows(),
          info: () => ({
            node_id: nd.nodeId,
            peer_id: nd.peerId,
            multiaddrs: node.getMultiaddrs().map(String),
            cert_serial: nd.leaf.serialHex,
            cert_not_after: new Date(nd.leaf.notAfter).toISOString(),
            crl_number: crl.newestNumber?.toString() ?? null,
            started_at: startedAt
          })
        },
        now: () => new Date(now()),
        logger: log
      })
      const server = api
      cleanups.push(async () => { await server.close() })
      // Renewed at 2/3 of its day, so `node peers` never meets an expired server session.
      const renewal = scheduleServerTlsRenewal({
        current: tls,
        renew: async () => issueSessionCredential({ signer: nd.identity.signer(), nodeChain: nd.chain, now: new Date(now()), validityMs: API_SESSION_MS }),
        apply: next => { server.setTls(next) },
        now: () => new Date(now()),
        onError: err => { log.error({ err }, 'API session certificate renewal failed') }
      })
      cleanups.push(async () => { renewal.stop() })
      apiUrl = (await api.listen(init.api ?? { host: '127.0.0.1', port: 0 })).url
    }

    if (init.runFile !== false) {
      await writeRunFile(init.dir, {
        version: 1,
        pid: process.pid,
        node_id: nd.nodeId,
        peer_id: nd.peerId,
        api_url: apiUrl ?? null,
        multiaddrs: node.getMultiaddrs().map(String),
        started_at: startedAt
      })
      cleanups.push(async () => { await removeRunFile(init.dir) })
    }

    let stopped: Promise<void> | undefined
    return {
      dir: nd,
      node,
      store,
      crl,
      ...(poller != null ? { poller } : {}),
      ...(api != null ? { api } : {}),
      ...(apiUrl != null ? { apiUrl } : {}),
      async stop () {
        stopped ??= undo()
        await stopped
      }
    }
  } catch (err) {
    await undo()
    throw err
  }
}

/** node.json's bootstrap peers plus the caller's, without our own address (a bootstrap server lists itself). */
function meshOptions (nd: NodeDir, config: MeshNodeConfig = {}): MeshNodeConfig {
  const self = `/p2p/${nd.peerId}`
  const bootstrap = [...new Set([...nd.file.config.bootstrap_peers, ...(config.bootstrap ?? [])])].filter(a => !a.endsWith(self))
  return { ...config, bootstrap }
}

async function refuseIfRunning (dir: string): Promise<void> {
  const run = await readRunFile(dir).catch(() => undefined)
  if (run != null && run.pid !== process.pid && isProcessAlive(run.pid)) {
    throw new NodeRuntimeError('ALREADY_RUNNING', `pid ${run.pid} already runs the node in ${dir}`)
  }
}

async function openNodeStore (dir: string): Promise<MeshStore> {
  try {
    return await openStore(join(dir, 'db'))
  } catch (err) {
    const e = err as { code?: unknown, cause?: { code?: unknown } }
    if (e.code === 'LEVEL_LOCKED' || e.cause?.code === 'LEVEL_LOCKED') {
      throw new NodeRuntimeError('ALREADY_RUNNING', `${dir}/db is held by another process`, { cause: err })
    }
    throw err
  }
}

function logNodeEvents (node: MeshNode, log: Logger): void {
  node.addEventListener('peer:authenticated', e => { log.info({ peer: e.detail.peerId, node_id: e.detail.nodeId, transport: e.detail.transport }, 'peer authenticated') })
  node.addEventListener('peer:auth-failed', e => { log.warn({ peer: e.detail.peerId, code: e.detail.code, chain_code: e.detail.chainCode }, 'peer refused') })
  node.addEventListener('peer:revoked', e => { log.warn({ peer: e.detail.peerId, node_id: e.detail.nodeId, serial: e.detail.serialHex }, 'peer revoked: connections closed') })
}

function logPoll (log: Logger, r: { outcome?: CrlPollOutcome, error?: unknown, failures: number, nextInMs: number }): void {
  if (r.error != null) {
    const e = r.error as { name?: string, code?: string }
    log.warn({ code: `${String(e.name)}:${String(e.code)}`, failures: r.failures, retry_in_ms: r.nextInMs }, 'CRL fetch failed')
  } else if (r.outcome?.status === 'installed') {
    const ev = r.outcome.event
    log.info({ crl_number: ev.crlNumber.toString(), newly_revoked: ev.newlyRevoked.length, closed: ev.report?.closedConnections ?? 0 }, 'CRL installed')
  } else if (r.outcome?.status === 'stale') {
    log.warn({}, 'CA served an older CRL than the one held; kept ours')
  }
}
