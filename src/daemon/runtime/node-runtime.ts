import { pino } from 'pino'
import { scheduleServerTlsRenewal } from '../../enrollment/server-cert.ts'
import { startOpsServer } from '../../metrics/ops-server.ts'
import { createProcessRegistry } from '../../metrics/registry.ts'
import { createMeshNode } from '../../node/create-mesh-node.ts'
import { relayStatus } from '../../node/relay-status.ts'
import { issueSessionCredential } from '../../pki/session-cert.ts'
import { CrlStateStore } from '../../store/crl-state.ts'
import { startNodeApiSocket } from '../api/local-socket.ts'
import { bundleApiSource } from '../api/routes/bundles.ts'
import { gossipApiSource } from '../api/routes/gossip.ts'
import { createNodeApiServer } from '../api/server.ts'
import { NodeLifecycle } from '../lifecycle/node-lifecycle.ts'
import { runtimeReadiness } from '../metrics/node-health.ts'
import { registerRuntimeMetrics } from '../metrics/runtime-metrics.ts'
import { AttestationReporter } from './attestation-reporter.ts'
import { CertHold } from './cert-hold.ts'
import { CrlManager } from './crl-manager.ts'
import { CrlPoller } from './crl-poller.ts'
import { startRuntimeDtn } from './dtn.ts'
import { NodeRuntimeError } from './errors.ts'
import { planNetwork, pinPorts, recordListen, recordListeners } from './listen-ports.ts'
import { meshOptions, rootCrlUrl } from './mesh-options.ts'
import { openNodeStore, refuseIfRunning } from './node-claim.ts'
import { openNodeDir } from './node-dir.ts'
import { relayInfo, withNodeFileRelay } from './relay-config.ts'
import { renewIfExpired } from './renew-on-start.ts'
import { removeRunFile, writeRunFile } from './run-file.ts'
import { logNodeEvents, logPoll } from './runtime-logs.ts'
import { SelfRevocationWatch } from './self-revocation.ts'
import type { CrlPollerOptions } from './crl-poller.ts'
import type { DtnCarry } from './dtn-carry.ts'
import type { NodeBundles, RuntimeDtnOptions } from './dtn.ts'
import type { NodeDir } from './node-dir.ts'
import type { OnRevoked, SelfRevoked } from './self-revocation.ts'
import type { IdentityKeyEnv } from '../../identity/identity-key-store.ts'
import type { ReadinessReport } from '../../metrics/readiness.ts'
import type { MeshNodeConfig } from '../../node/config.ts'
import type { KeeperStats } from '../../node/member-keeper.ts'
import type { MeshNode } from '../../node/mesh-node.ts'
import type { MeshStore } from '../../store/mesh-store.ts'
import type { NodeApiServer, NodeApiSource } from '../api/server.ts'
import type { NodeLifecycleOptions } from '../lifecycle/node-lifecycle.ts'
import type { NodeReadinessOptions } from '../metrics/node-readiness.ts'
import type { ComponentLogger } from '@libp2p/interface'
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'

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
  /** Serve the read-only queries on NODEDIR/api.sock (mode 0600). @default true */
  apiSocket?: boolean
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
  /**
   * What the node does once a CRL revokes its own certificate (or a CA above it): 'exit' refuses
   * to start, or calls `onSelfRevoked` so the process can stop; 'isolate' stays up with no peers.
   * Either way it logs one error and writes NODEDIR/revoked.json. @default 'exit'
   */
  onRevoked?: OnRevoked
  /** Called once when the node finds itself revoked while it runs. */
  onSelfRevoked?(record: SelfRevoked): void
  /**
   * Prometheus metrics and health. With `listen`, a plain-HTTP listener serves `/metrics`,
   * `/livez` and `/readyz` there (`--metrics HOST:PORT`); `registry` is the process's one
   * registry when the caller has it (the CA service's process). @default off: no metrics kept
   */
  metrics?: { listen?: { host: string, port: number }, registry?: Registry, readiness?: Partial<NodeReadinessOptions> }
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
  /** NODEDIR/api.sock, the local read socket, while it listens. */
  readonly apiSocket?: string
  /** DTN bundles: `send`, `list`, `get`, and the `bundle:delivered` event. */
  readonly bundles: NodeBundles
  /** Anomaly signatures and CRLs carried in bundles to peers that are away. */
  readonly carry: DtnCarry
  /** Certificate rotation, renewal, CA notices and trust changes. */
  readonly lifecycle: NodeLifecycle
  /** Our own sends while the certificate is not valid: held on disk, sent after renewal. */
  readonly hold: CertHold
  /** Whether a CRL revoked this node's own certificate (`revoked` is then set). */
  readonly selfRevocation: SelfRevocationWatch
  /** Where `/metrics`, `/livez` and `/readyz` answer, when `metrics.listen` was given. */
  readonly metricsUrl?: string
  /** Readiness now: certificate valid and not revoked, CRLs fresh, enough authenticated members. */
  readiness(): ReadinessReport
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
    // node.json's `on_revoked` unless the caller says; anything but 'isolate' there means exit.
    const onRevoked = init.onRevoked ?? (nd.file.on_revoked === 'isolate' ? 'isolate' : 'exit')
    const selfRevocation = new SelfRevocationWatch({
      dir: init.dir,
      nodeId: nd.nodeId,
      verifier: nd.chainVerifier,
      crl,
      chain: () => lifecycle.credentials.current().chain,
      now,
      policy: onRevoked,
      onRevoked: r => {
        // The one error line an operator needs; peers' refusals that follow say nothing new.
        log.error({ code: 'NODE_REVOKED', node_id: r.node_id, serial: r.revoked_serial, subject: r.revoked_subject, reason: r.reason, crl_number: r.crl_number, on_revoked: onRevoked }, `this node's ${r.revoked_subject === 'node' ? 'certificate' : 'CA certificate'} ${r.revoked_serial} is revoked (${r.reason}, CRL ${r.crl_number ?? '?'}): no peer will accept it; enroll again with a new token`)
        init.onSelfRevoked?.(r)
      }
    })
    cleanups.push(async () => { selfRevocation.stop() })
    const revokedAtStart = await selfRevocation.check()
    if (revokedAtStart != null && onRevoked === 'exit') {
      throw new NodeRuntimeError('NODE_REVOKED', `the certificate ${revokedAtStart.revoked_serial} of ${nd.nodeId} is revoked (${revokedAtStart.reason}, CRL ${revokedAtStart.crl_number ?? '?'}): enroll again with a new token (\`dadm-mesh node enroll\`)`)
    }

    const reporter = attestationReporter(lifecycle, nd, now, log)
    // Listen (node.json's recorded ports), announce and DHT mode: flags over node.json over defaults.
    const network = planNetwork(lifecycle.files.file, meshOptions(nd, init.options))
    const registry = init.metrics != null ? init.metrics.registry ?? createProcessRegistry() : undefined
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
      // node.json's relay block under the flags' relay settings.
      options: withNodeFileRelay(lifecycle.files.file, network.config),
      now,
      start: false,
      ...(init.libp2pLogger != null ? { logger: init.libp2pLogger } : {}),
      ...(registry != null ? { metrics: { registry } } : {})
    })
    cleanups.push(async () => { await node.stop() })
    await crl.attach(node)
    // A CRL fetched from the CA is gossiped on at once, as one from a push is (any node holding a
    // newer CRL publishes it, so a CRL reaches nodes the CA cannot push to); gossip and push already re-gossip their own.
    crl.onCrl(async (e) => {
      if (e.source === 'fetch' && node.gossip != null && node.status === 'started') {
        // Gossip may have brought this very CRL first, or no peer subscribes yet: nothing to pass on then.
        await node.gossip.crl.publishCrl(e.crl.der).catch(err => { log.debug({ err: (err as Error).message }, 'CRL not gossiped on') })
      }
    })
    logNodeEvents(node, log)
    // DTN before the node starts, so the first connections already find the bundle protocol
    const dtn = await startRuntimeDtn({ node, store, dir: nd, crl, now, log, ...(init.dtn != null ? { options: init.dtn } : {}) })
    cleanups.push(async () => { await dtn.stop() })
    if (registry != null) { registerRuntimeMetrics(registry, { bundles: dtn.bundles, lifecycle }) }
    const bound = recordListeners(node.libp2p)
    await node.start()
    // The ports picked on a first start are kept: restarts keep the node's addresses.
    if (network.pin) { await recordListen(lifecycle.files, pinPorts(node.options.listen, bound())) }
    await lifecycle.attach(node)
    // Sends while the certificate is not valid wait on disk; what a previous run held goes now.
    const hold = await CertHold.start({ lifecycle, node, bundles: dtn.bundles, store, now, log })
    cleanups.push(async () => { hold.stop() })
    void hold.release().catch(err => { log.error({ err }, 'releasing held sends failed') })
    // Any new CRL (an intermediate's revocation by the root's CRL too) re-checks live sessions.
    crl.onCrl(async () => { await node.auth.revalidateSessions() })
    // One line per CRL change, whichever path brought it (fetch, gossip, push): the manager
    // installs each number once, so a CRL that arrives by several paths is logged once.
    crl.onCrl((e) => { log.info({ crl_number: e.crlNumber.toString(), issuer: e.crl.issuer.key, source: e.source, newly_revoked: e.newlyRevoked.length, closed: e.report?.closedConnections ?? 0 }, 'CRL installed') })
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

    // What the admin API and the local read socket answer from.
    const apiSource: NodeApiSource = {
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
        started_at: startedAt,
        reachability: node.reachability.report(),
        ...(node.options.relay.enabled ? { relay: relayInfo(relayStatus(node)) } : {}),
        ...(node.dhtMode?.decision != null ? { dht: node.dhtMode.decision } : {}),
        ...(node.keeper != null ? { keep_alive: keepAliveInfo(node.keeper.stats()) } : {})
      })
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
        source: apiSource,
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

    let apiSocket: string | undefined
    if (init.apiSocket !== false) {
      const sock = await startNodeApiSocket({
        dir: init.dir,
        source: apiSource,
        refuse: (state, path) => state === 'in-use'
          ? new NodeRuntimeError('ALREADY_RUNNING', `another process answers on ${path}`)
          : new NodeRuntimeError('NODE_DIR_INVALID', `${path} exists and is not a socket; refusing to replace it`)
      })
      if ('skipped' in sock) {
        log.warn({ path: sock.path }, 'NODEDIR path too long for a Unix socket: local read socket off, the CLI uses the mTLS API')
      } else {
        cleanups.push(async () => { await sock.close() })
        apiSocket = sock.path
      }
    }

    const readiness = (): ReadinessReport => runtimeReadiness({ node, lifecycle, verifier: nd.chainVerifier, selfRevocation, now }, init.metrics?.readiness)
    let metricsUrl: string | undefined
    if (registry != null && init.metrics?.listen != null) {
      const ops = await startOpsServer({ registry, readiness }, init.metrics.listen)
      cleanups.push(async () => { await ops.close() })
      metricsUrl = ops.url
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
      selfRevocation,
      readiness,
      ...(metricsUrl != null ? { metricsUrl } : {}),
      bundles: dtn.bundles,
      carry: dtn.carry,
      ...(poller != null ? { poller } : {}),
      ...(api != null ? { api } : {}),
      ...(apiUrl != null ? { apiUrl } : {}),
      ...(apiSocket != null ? { apiSocket } : {}),
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

function keepAliveInfo (s: KeeperStats): { bootstrap: number, members: number, scheduled: number, redials: number, refill_dials: number } {
  return { bootstrap: s.bootstrap, members: s.members, scheduled: s.scheduled, redials: s.redials, refill_dials: s.refillDials }
}

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
