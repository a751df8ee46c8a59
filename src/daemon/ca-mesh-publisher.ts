import { crlRevocationPredicate } from '../../protocols/crl-gossip/revocation-predicate.ts'
import { parseCrl } from '../pki/crl.ts'
import { enrollNode } from './enroll/enroll-node.ts'
import { readNodeFile } from './enroll/node-files.ts'
import { startNodeRuntime } from './runtime/node-runtime.ts'
import type { AuthenticatedPeer } from '../../protocols/auth/index.ts'
import type { CaService } from '../enrollment/ca-service.ts'
import type { NoticeDelivery } from '../enrollment/types.ts'
import type { MeshNodeConfig } from '../node/config.ts'
import type { CrlPublication } from '../node/gossip-services.ts'
import type { NodeRuntime, NodeRuntimeInit } from './runtime/node-runtime.ts'
import type { Logger } from 'pino'

/**
 * The CA's own mesh node: how a revocation accepted by `POST /v1/revoke` (or `ca revoke` on the
 * admin socket) reaches the mesh at once, without waiting for the nodes' CRL polls.
 *
 * Design, the simplest that works: the CA process runs an ordinary mesh node (the node runtime
 * of `node start`, on the CA's one LevelDB), enrolled from this CA itself through its own
 * `POST /v1/enroll` with a one-use token, the first time NODEDIR is used. Nodes list its address
 * as a bootstrap peer (or it dials theirs), so it holds authenticated links like any member. On
 * every new CRL the CA service calls back synchronously; the publisher then (1) offers the CRL to
 * its own node (installed, enforced, gossiped on `/dadm-mesh/crl/1`) and (2) pushes it on
 * `/dadm-mesh/revoke/1.0.0` to every authenticated peer, who install it and gossip it on. A peer
 * that authenticates later gets the current CRL pushed at once, so a node that was away when
 * the revocation happened learns it on (re)connection, ahead of its next poll.
 * Trust never rests on this node: every receiver checks the CA's signature on the CRL itself.
 */
export interface CaMeshPublisherInit {
  service: CaService
  /** NODEDIR of the CA's mesh node; enrolled through `caUrl` when it holds no node.json yet. */
  dir: string
  /** Encrypts the node's keys (the CA's own passphrase in `ca serve`). */
  passphrase: string
  /** This process's enrollment service, e.g. https://127.0.0.1:8443 (its TLS chains to the CA root). */
  caUrl: string
  /** @default 'ca-mesh' */
  nodeId?: string
  /** Node tunables (listen addresses, bootstrap peers, ...). */
  options?: MeshNodeConfig
  log?: Logger
  /** Called after each publication (operators' log lines, tests, the demo). */
  onPublished?(result: CrlPublication & { crlNumber: number }): void
  /** @default Date.now */
  now?(): number
  /** scrypt cost of the new node's key files (tests and the demo lower it). */
  scryptLogN?: number
  /** The process's metrics registry, so the node's metrics join the CA's (`ca serve --metrics`). @default none */
  metrics?: NodeRuntimeInit['metrics']
}

export interface CaMeshPublisher {
  readonly runtime: NodeRuntime
  /** Publishes `der` now: local install, gossip, push to every authenticated peer. */
  publish(der: Uint8Array): Promise<CrlPublication>
  /** Stops listening to the CA and stops the node (the CA's store stays open). Idempotent. */
  stop(): Promise<void>
}

/** Enrolls (first time) and starts the CA's mesh node, and publishes every new CRL through it. */
export async function startCaMeshPublisher (init: CaMeshPublisherInit): Promise<CaMeshPublisher> {
  const now = init.now ?? Date.now
  const nodeId = init.nodeId ?? 'ca-mesh'
  if (await readNodeFile(init.dir) == null) {
    // A replacement token: the CA mints it for its own node, so a NODEDIR that was lost or moved
    // takes the node_id back (the old directory's certificates are revoked) instead of failing NODE_ID_TAKEN.
    const { token } = await init.service.createToken({ nodeId, ttlMs: 60_000, uses: 1, replace: true }, new Date(now()))
    await enrollNode({ dir: init.dir, caUrl: init.caUrl, caCertPem: init.service.ca.rootPem, token, nodeId, passphrase: init.passphrase, now: () => new Date(now()), ...(init.scryptLogN != null ? { scryptLogN: init.scryptLogN } : {}) })
  }
  const runtime = await startNodeRuntime({
    dir: init.dir,
    passphrase: init.passphrase,
    // The CA's one LevelDB (DESIGN.md: one store per process); its sublevels do not overlap.
    store: init.service.ca.meshStore,
    // The CA is the CRL's source: nothing to poll. No admin API and no run.json: `ca serve` owns the process.
    crl: false,
    api: false,
    runFile: false,
    now,
    ...(init.options != null ? { options: init.options } : {}),
    ...(init.metrics != null ? { metrics: init.metrics } : {}),
    ...(init.log != null ? { log: init.log } : {})
  })
  const node = runtime.node
  let current = (await init.service.crl(new Date(now()))).der

  const publish = async (der: Uint8Array): Promise<CrlPublication> => {
    current = der
    // The revoked peers first, while we still hold their links: the local install below closes
    // them, and a node that is told it is revoked can stop and say so instead of redialling into
    // refusals until its next CRL poll. The CRL carries the CA's signature; it proves itself.
    await tellRevoked(der)
    return node.publishCrl(der)
  }
  const tellRevoked = async (der: Uint8Array): Promise<void> => {
    const revoke = node.gossip?.revoke
    if (revoke == null) { return }
    let isRevoked: ReturnType<typeof crlRevocationPredicate>
    try {
      isRevoked = crlRevocationPredicate(parseCrl(der), runtime.dir.chainVerifier.authorities)
    } catch {
      return
    }
    const victims = node.auth.authenticatedConnections().filter(c => c.connection.status === 'open' && isRevoked(c.peer))
    // Each push has the revoke protocol's own deadline; a victim that does not answer delays nobody else for longer.
    await Promise.all(victims.map(async v => revoke.pushTo(v.connection, der).catch(() => undefined)))
  }
  const announce = (crlNumber: number) => (r: CrlPublication): void => {
    init.log?.info({ crl_number: crlNumber, local: r.local.action, pushed: r.pushed.length, installed_by: r.pushed.filter(p => p.ok).length }, 'CRL published to the mesh')
    init.onPublished?.({ ...r, crlNumber })
  }
  const fail = (err: unknown): void => { init.log?.error({ err }, 'publishing the CRL to the mesh failed') }

  // The CA node holds the current CRL itself before it talks to anyone.
  await publish(current)
  const removeListener = init.service.onRevocationCrl(({ der, crlNumber }) => {
    publish(der).then(announce(crlNumber), fail)
  })
  // CA notices (rotate-now, trust bundles): the CA's node judges each like any node
  // (signature, sequence), then pushes it to its peers, who forward it once. The operator's
  // command waits for the pushes, so it can say how many peers took it.
  const removeNoticeListener = init.service.useNoticePublisher(async (notice): Promise<NoticeDelivery> => {
    try {
      const r = await runtime.lifecycle.publishReport(notice)
      if (!r.verdict.ok) {
        init.log?.warn({ code: r.verdict.code }, 'the CA\'s mesh node refused its own CA notice')
        return { via: 'refused', code: r.verdict.code ?? 'MALFORMED' }
      }
      // A peer that answers DUPLICATE holds it already (a forward from another peer came first).
      const accepted = r.pushed.filter(p => p.ok || p.code === 'DUPLICATE').length
      init.log?.info({ peers: r.pushed.length, accepted, gossiped: r.gossiped }, 'CA notice published to the mesh')
      return { via: 'mesh', peers: r.pushed.length, accepted, gossiped: r.gossiped }
    } catch (err) {
      fail(err)
      return { via: 'poll' }
    }
  })
  // A peer that (re)connects gets the current CRL pushed at once.
  const onAuthenticated = (evt: CustomEvent<AuthenticatedPeer>): void => {
    const connection = node.libp2p.getConnections().find(c => c.id === evt.detail.connectionId)
    if (connection == null || node.gossip == null) { return }
    node.gossip.revoke.pushTo(connection, current).catch(fail)
  }
  node.addEventListener('peer:authenticated', onAuthenticated)

  let stopped: Promise<void> | undefined
  return {
    runtime,
    publish,
    async stop () {
      stopped ??= (async () => {
        removeListener()
        removeNoticeListener()
        node.removeEventListener('peer:authenticated', onAuthenticated)
        await runtime.stop()
      })()
      await stopped
    }
  }
}
