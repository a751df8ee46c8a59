import { join } from 'node:path'
import { pino } from 'pino'
import { scheduleServerTlsRenewal } from '../../enrollment/server-cert.ts'
import { createMeshNode } from '../../node/create-mesh-node.ts'
import { issueSessionCredential } from '../../pki/session-cert.ts'
import { CrlStateStore } from '../../store/crl-state.ts'
import { openStore } from '../../store/mesh-store.ts'
import { bundleApiSource } from '../api/routes/bundles.ts'
import { gossipApiSource } from '../api/routes/gossip.ts'
import { createNodeApiServer } from '../api/server.ts'
import { NodeLifecycle } from '../lifecycle/node-lifecycle.ts'
import { AttestationReporter } from './attestation-reporter.ts'
import { CertHold } from './cert-hold.ts'
import { CrlManager } from './crl-manager.ts'
import { CrlPoller } from './crl-poller.ts'
import { startRuntimeDtn } from './dtn.ts'
import { NodeRuntimeError } from './errors.ts'
import { openNodeDir } from './node-dir.ts'
import { isProcessAlive, readRunFile, removeRunFile, writeRunFile } from './run-file.ts'
import type { CrlPollerOptions, CrlPollOutcome } from './crl-poller.ts'
import type { DtnCarry } from './dtn-carry.ts'
import type { NodeBundles, RuntimeDtnOptions } from './dtn.ts'
import type { NodeDir } from './node-dir.ts'
import type { IdentityKeyEnv } from '../../identity/identity-key-store.ts'
import type { MeshNodeConfig } from '../../node/config.ts'
import type { MeshNode } from '../../node/mesh-node.ts'
import type { MeshStore } from '../../store/mesh-store.ts'
import type { NodeApiServer } from '../api/server.ts'
import type { NodeLifecycleOptions } from '../lifecycle/node-lifecycle.ts'
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
  /**
   * The process's one LevelDB, when the caller holds it already (the CA service running its own
   * mesh node): used instead of NODEDIR/db and left open at stop. @default NODEDIR/db
   */
  store?: MeshStore
  /** DTN bundles: relay flag, quota, carrying of gossip and CRLs. */
  dtn?: RuntimeDtnOptions
  /**
   * Certificate lifecycle: rotation schedule, notice poll. `renewMaxWaitMs`: how long
   * a node whose certificate expired while it was off waits for `/v1/renew` before giving up.
   *
   * @default rotation at 2/3 with jitter, notices polled every 5 min, renewal retried without end
   */
  lifecycle?: NodeLifecycleOptions & { renewMaxWaitMs?: number }
  /** PIN source of a PKCS#11 or TPM identity key; scrypt cost of keys rotation creates (tests lower it). */
  keyEnv?: Omit<IdentityKeyEnv, 'dir' | 'passphrase'>
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
  /** DTN bundles: `send`, `list`, `get`, and the `bundle:delivered` event. */
  readonly bundles: NodeBundles
  /** Anomaly signatures and CRLs carried in bundles to peers that are away. */
  readonly carry: DtnCarry
  /** Certificate rotation, renewal, CA notices and trust changes. */
  readonly lifecycle: NodeLifecycle
  /** Our own sends while the certificate is not valid: held on disk, sent after renewal. */
  readonly hold: CertHold
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
  // An expired certificate is opened, not refused: a node back from a long time offline renews it below.
  const nd = await openNodeDir(init.dir, init.passphrase, new Date(now()), { allowExpired: true, ...(init.keyEnv != null ? { keyEnv: init.keyEnv } : {}) })
  const cleanups: Array<() => Promise<void>> = [async () => { await nd.closeIdentity() }]
  const undo = async (): Promise<void> => {
    for (const c of cleanups.splice(0).reverse()) {
      await c().catch(err => { log.error({ err }, 'stop step failed') })
    }
  }
  try {
    if (init.runFile !== false) { await refuseIfRunning(init.dir) }
    const ownStore = init.store == null
    const store = init.store ?? await openNodeStore(init.dir)
    if (ownStore) { cleanups.push(async () => { await store.close() }) }
    const lifecycle = await NodeLifecycle.open({ nd, now, log, ...(init.lifecycle != null ? { options: init.lifecycle } : {}) })
    cleanups.push(async () => { await lifecycle.stop() })
    await renewIfExpired(lifecycle, init.lifecycle?.renewMaxWaitMs)
    const crl = new CrlManager({
      verifier: nd.chainVerifier,
      store: new CrlStateStore(store),
      // Read at each CRL: a trust bundle may have added CAs (CA rotation).
      caCertificates: () => nd.chainVerifier.authorities,
      now,
      onHookError: err => { log.error({ err }, 'CRL hook failed') }
    })
    const persisted = await crl.loadPersisted()
    for (const s of persisted.skipped) { log.warn({ code: (s.error as { code?: string }).code }, 'stored CRL no longer verifies; skipped') }

    const reporter = attestationReporter(lifecycle, nd, now, log)
    const node = await createMeshNode({
      ...nd.init,
      // Failed attestations of peers go to the CA, whose policy decides whether they revoke.
      attestation: { ...nd.init.attestation, onRevocationRequest: (e) => { reporter.report(e).catch(err => { log.warn({ err, node_id: e.nodeId }, 'reporting an attestation failure failed') }) } },
      // The lifecycle's current pair, read once per handshake: a rotation counts at once.
      credentials: lifecycle.authCredentials,
      // The one ChainVerifier: auth, both gossip validators and the CrlManager share it.
      chainVerifier: nd.chainVerifier,
      store,
      // A CRL accepted from gossip or a push is persisted and enforced like a fetched one.
      gossip: { onNewCrl: async (e) => { await crl.accepted(e) } },
      options: meshOptions(nd, init.options),
      now,
      start: false,
      ...(init.libp2pLogger != null ? { logger: init.libp2pLogger } : {})
    })
    cleanups.push(async () => { await node.stop() })
    await crl.attach(node)
    // A CRL fetched from the CA is gossiped on at once, as one from a push is (any node holding a
    // newer CRL publishes it, so a CRL reaches nodes the CA cannot push to); gossip and push already re-gossip their own.
    crl.onCrl(async (e) => {
      if (e.source === 'fetch' && node.gossip != null && node.status === 'started') { await node.gossip.crl.publishCrl(e.crl.der) }
    })
    logNodeEvents(node, log)
    // DTN before the node starts, so the first connections already find the bundle protocol
    const dtn = await startRuntimeDtn({ node, store, dir: nd, crl, now, log, ...(init.dtn != null ? { options: init.dtn } : {}) })
    cleanups.push(async () => { await dtn.stop() })
    await node.start()
    await lifecycle.attach(node)
    // Sends while the certificate is not valid wait on disk; what a previous run held goes now.
    const hold = await CertHold.start({ lifecycle, node, bundles: dtn.bundles, store, now, log })
    cleanups.push(async () => { hold.stop() })
    void hold.release().catch(err => { log.error({ err }, 'releasing held sends failed') })
    // Any new CRL (an intermediate's revocation by the root's CRL too) re-checks live sessions.
    crl.onCrl(async () => { await node.auth.revalidateSessions() })
    const startedAt = new Date(now()).toISOString()

    let poller: CrlPoller | undefined
    const crlUrl = nd.file.config.crl_url
    if (init.crl !== false && crlUrl !== '') {
      poller = new CrlPoller({
        url: crlUrl,
        // The roots in force (a trust bundle may change them), as the TLS pin to the CA.
        caPem: () => nd.rootPem,
        manager: crl,
        options: init.crl ?? {},
        onPoll: r => { logPoll(log, r) }
      })
      cleanups.push(async () => { await poller?.stop() })
      poller.start()
      if (nd.intermediates.length > 0) {
        // The root's CRL lists revoked intermediates: revoking one revokes every certificate under it.
        const rootPoller = new CrlPoller({ url: rootCrlUrl(crlUrl), caPem: () => nd.rootPem, manager: crl, options: init.crl ?? {}, onPoll: r => { logPoll(log, r) } })
        cleanups.push(async () => { await rootPoller.stop() })
        rootPoller.start()
      }
    }

    let api: NodeApiServer | undefined
    let apiUrl: string | undefined
    if (init.api !== false) {
      const tls = await issueSessionCredential({ signer: nd.identity.signer(), nodeChain: nd.chain, now: new Date(now()), validityMs: API_SESSION_MS })
      api = await createNodeApiServer({
        tls,
        clientCaPem: nd.rootPem,
        trust: {
          nodeId: nd.nodeId,
          // The keys the node holds: the current pair's, and those rotated out whose certificates still run.
          self: () => ({ peerId: nd.peerId, keys: [lifecycle.credentials.current().key, ...lifecycle.credentials.retired().map(r => r.key)].flatMap(k => k != null ? [k.publicKeySpki] : []) }),
          roots: () => nd.roots,
          intermediates: () => nd.intermediates,
          crls: () => nd.chainVerifier.crls
        },
        source: {
          ...(node.gossip != null ? { gossip: gossipApiSource(node.gossip, now, async (payload, o) => hold.publishAnomaly(payload, o)) } : {}),
          bundles: bundleApiSource(dtn.bundles),
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
      lifecycle,
      hold,
      bundles: dtn.bundles,
      carry: dtn.carry,
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

/** The root-scope CRL next to the issuing CA's (`GET /v1/crl?scope=root`). */
function rootCrlUrl (crlUrl: string): string {
  const u = new URL(crlUrl)
  u.searchParams.set('scope', 'root')
  return u.toString()
}

/**
 * A node back from a long time offline renews its expired certificate before it joins
 * (`/v1/renew`, proof of possession of its key). Until then it is not on the mesh, and
 * what it sends waits in its stores. Only a new enrollment helps past the renewal window.
 */
function attestationReporter (lifecycle: NodeLifecycle, nd: NodeDir, now: () => number, log: Logger): AttestationReporter {
  return new AttestationReporter({
    caUrl: lifecycle.files.file.ca_url,
    caPem: () => nd.rootPem,
    identity: () => {
      const cur = lifecycle.credentials.current()
      return { signer: cur.key.signer(), chain: cur.chain }
    },
    now,
    log
  })
}

async function renewIfExpired (lifecycle: NodeLifecycle, maxWaitMs: number | undefined): Promise<void> {
  try {
    await lifecycle.renewIfExpired(maxWaitMs != null ? { maxWaitMs } : {})
  } catch (err: any) {
    if (err?.code === 'REENROLL_REQUIRED') {
      throw new NodeRuntimeError('REENROLL_REQUIRED', `the certificate expired and the CA will not renew it (${String(err.serverCode)}): enroll again with a new token (\`dadm-mesh node enroll\`)`, { cause: err })
    }
    throw new NodeRuntimeError('CERT_INVALID', `the certificate expired and could not be renewed: ${String(err?.message)}`, { cause: err })
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
  node.addEventListener('anomaly:equivocation', e => { log.warn({ node_id: e.detail.nodeId, peer: e.detail.peerId, message_id: e.detail.messageId }, 'origin signed two versions of one anomaly signature; kept the first') })
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
