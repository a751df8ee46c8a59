import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { NoticeGossip, NoticePush } from '../../../protocols/rotate-now/index.ts'
import { Tpm } from '../../attestation/tpm.ts'
import { parseCertificate } from '../../pki/certificate.ts'
import { verifyChain } from '../../pki/verify-chain.ts'
import { derToPem } from '../../util/pem.ts'
import { enrollmentEvidence } from '../enroll/node-attest.ts'
import { fetchNotices } from './ca-client.ts'
import { CredentialSet } from './credential-set.ts'
import { NodeFileStore, persistRotation, persistTrust } from './node-state.ts'
import { NoticeCenter } from './notice-center.ts'
import { RotationManager } from './rotation-manager.ts'
import type { RetiredPair } from './credential-set.ts'
import type { CaClient, RotatedEvent } from './rotation-manager.ts'
import type { RotationPolicy } from './schedule.ts'
import type { NoticePushOutcome, NoticeVerdict, VerifiedNotice } from '../../../protocols/rotate-now/index.ts'
import type { MeshNode } from '../../node/mesh-node.ts'
import type { Certificate } from '../../pki/certificate.ts'
import type { NodeDir } from '../runtime/node-dir.ts'
import type { Logger } from 'pino'

/** Tunables of a node's certificate lifecycle. */
export interface NodeLifecycleOptions {
  rotation?: Partial<RotationPolicy>
  /** How often to fetch the CA's latest notices (`GET /v1/notices`), ms; false for never. @default 5 min */
  noticePollMs?: number | false
  /** Deadline of one request to the CA, ms. @default 30 s */
  caTimeoutMs?: number
  /**
   * Which mesh paths carry CA notices: the `/dadm-mesh/rotate/1.0.0` push flood and gossip on
   * NOTICE_TOPIC (when the node runs gossip). Both by default; tests turn one off to show the
   * other carries a notice alone.
   */
  noticePaths?: { push?: boolean, gossip?: boolean }
}

export interface NodeLifecycleInit {
  /** The node's directory as opened (`openNodeDir(..., { allowExpired: true })`). */
  nd: NodeDir
  now(): number
  random?(): number
  options?: NodeLifecycleOptions
  log?: Logger
  /** How rotation reaches the CA. @default HTTPS (`HTTPS_CA_CLIENT`) */
  caClient?: CaClient
}

/**
 * A node's certificate lifecycle, one per node process: the current and retired
 * key/certificate pairs, scheduled rotation and renewal after expiry (RotationManager), CA-signed
 * notices (rotate-now, trust bundles) from push, poll or the operator (NoticeCenter), and the
 * glue to the running mesh node: re-auth of live sessions after a rotation, re-check of live
 * sessions after a trust change, rejoin after a renewal. See README.md in this folder.
 */
export class NodeLifecycle {
  readonly credentials: CredentialSet
  readonly files: NodeFileStore
  readonly rotation: RotationManager
  readonly notices: NoticeCenter
  readonly push: NoticePush
  /** Notices on gossipsub, once attached to a node that runs gossip. */
  noticeGossip: NoticeGossip | undefined
  private readonly nd: NodeDir
  private readonly now: () => number
  private readonly log: Logger | undefined
  private readonly options: NodeLifecycleOptions
  private node: MeshNode | undefined
  private poll: ReturnType<typeof setInterval> | undefined
  private stopped = false

  private constructor (init: NodeLifecycleInit, files: NodeFileStore) {
    const nd = init.nd
    this.nd = nd
    this.now = init.now
    this.log = init.log
    this.options = init.options ?? {}
    this.files = files
    const retired: RetiredPair[] = (files.file.retired_identity_keys ?? []).map(r => ({ label: r.label, serialHex: r.serial, notAfter: Date.parse(r.not_after) }))
    this.credentials = new CredentialSet({ label: nd.identityLabel, key: nd.identity, chain: nd.chain, leaf: nd.leaf }, retired)
    const cv = nd.chainVerifier
    this.rotation = new RotationManager({
      files,
      keyStore: nd.keyStore,
      credentials: this.credentials,
      trust: { roots: () => cv.roots, intermediates: () => cv.intermediates },
      peerId: nd.peerId,
      now: init.now,
      ...(init.random != null ? { random: init.random } : {}),
      ...(this.options.rotation != null ? { policy: this.options.rotation } : {}),
      ...(this.options.caTimeoutMs != null ? { timeoutMs: this.options.caTimeoutMs } : {}),
      ...(init.caClient != null ? { caClient: init.caClient } : {}),
      ...(files.file.attestation != null ? { evidence: async (spki) => this.evidence(spki) } : {})
    })
    this.push = new NoticePush({ onNotice: async (bytes, from) => this.notices.offer(bytes, from) })
    this.notices = new NoticeCenter({
      nodeId: nd.nodeId,
      chainVerifier: cv,
      now: init.now,
      trustSequence: () => this.files.file.trust_sequence ?? 0,
      onRotateNow: (n) => this.rotation.requestRotation(n.iat),
      onTrustBundle: async (v) => { await this.applyTrust(v) },
      ...(this.options.noticePaths?.push !== false ? { push: this.push } : {})
    })
    this.rotation.addEventListener('rotated', (e) => { void this.onRotated(e.detail) })
    this.rotation.addEventListener('rotation-failed', (e) => { this.log?.warn({ code: e.detail.code, server_code: e.detail.serverCode, failures: e.detail.failures, retry_in_ms: e.detail.retryInMs }, 'certificate rotation failed') })
    this.rotation.addEventListener('key-deleted', (e) => { this.log?.info({ serial: e.detail.serialHex }, 'retired identity key deleted (its certificate expired)') })
    this.notices.addEventListener('notice', (e) => { this.log?.info({ kind: e.detail.kind, seq: e.detail.seq, applied: e.detail.applied }, 'CA notice accepted') })
    this.notices.addEventListener('notice:refused', (e) => { if (e.detail.action === 'reject') { this.log?.warn({ code: e.detail.code, peer: e.detail.from }, 'CA notice refused') } })
  }

  /**
   * Builds the lifecycle for an opened NODEDIR, finishing a rotation a crash interrupted
   * (cert.pem already certified the pending key: node.json is brought in line).
   */
  static async open (init: NodeLifecycleInit): Promise<NodeLifecycle> {
    const nd = init.nd
    const files = new NodeFileStore(nd.dir, nd.file)
    if (nd.identityLabel !== nd.file.identity_key.label) {
      await files.update(async (dir, f) => persistRotation(dir, f, {
        ref: { ...f.identity_key, label: nd.identityLabel },
        chain: nd.chain,
        leaf: nd.leaf,
        retired: { label: f.identity_key.label, serialHex: f.serial, notAfter: Date.parse(f.not_after) },
        at: new Date(init.now())
      }))
    }
    return new NodeLifecycle(init, files)
  }

  /** The credentials function for `createMeshNode`: read once per handshake. */
  get authCredentials (): CredentialSet['credentials'] {
    return this.credentials.credentials
  }

  /** True when the current certificate has expired (renew before joining). */
  get expired (): boolean {
    return this.now() > this.credentials.current().leaf.notAfter
  }

  /** Renews an expired certificate (`/v1/renew`), retrying; throws LifecycleError REENROLL_REQUIRED when only a token helps. */
  async renewIfExpired (options: { maxWaitMs?: number } = {}): Promise<RotatedEvent | undefined> {
    if (!this.expired) { return undefined }
    return this.rotation.renewExpired(options)
  }

  /** Ties the lifecycle to the started node: push protocol, rotation schedule, notice poll. */
  async attach (node: MeshNode): Promise<void> {
    this.node = node
    if (this.options.noticePaths?.push !== false) { await this.push.start(node) }
    const pubsub = node.gossip?.pubsub
    if (pubsub != null && this.options.noticePaths?.gossip !== false) {
      this.noticeGossip = new NoticeGossip({ pubsub, judge: async (bytes, from) => this.notices.offer(bytes, from, { viaGossip: true }) })
      this.noticeGossip.start()
      this.notices.useGossip(this.noticeGossip)
    }
    this.rotation.start()
    const every = this.options.noticePollMs ?? 5 * 60_000
    if (every !== false && this.files.file.ca_url !== '') {
      this.poll = setInterval(() => { void this.pollNotices() }, every)
      this.poll.unref?.()
    }
  }

  /** A notice from the operator (CLI, admin API): judged like a pushed one, then forwarded. */
  async publish (bytes: Uint8Array): Promise<NoticeVerdict> {
    return this.notices.offer(bytes, 'local')
  }

  /**
   * Like `publish`, but waits for the push to every authenticated peer and says how it went, so
   * the operator's command can report what happened (the CA's own node publishing its notices).
   */
  async publishReport (bytes: Uint8Array): Promise<{ verdict: NoticeVerdict, pushed: NoticePushOutcome[], gossiped: boolean }> {
    const verdict = await this.notices.offer(bytes, 'local', { forward: false })
    if (!verdict.ok) { return { verdict, pushed: [], gossiped: false } }
    // Push first, then gossip: run together, gossip would reach some peers first and their push
    // answers would say DUPLICATE, which tells the operator nothing about who holds it.
    const pushed = this.options.noticePaths?.push !== false ? await this.push.push(bytes) : []
    const gossiped = await (this.noticeGossip?.publish(bytes) ?? Promise.resolve(false))
    return { verdict, pushed, gossiped }
  }

  async stop (): Promise<void> {
    this.stopped = true
    clearInterval(this.poll)
    this.notices.useGossip(undefined)
    try {
      this.noticeGossip?.stop()
    } catch {
      // gossipsub stopped with the node already: nothing to unsubscribe from
    }
    await this.rotation.stop()
    await this.push.stop()
  }

  private async pollNotices (): Promise<void> {
    try {
      const notices = await fetchNotices({ url: this.files.file.ca_url, caPem: this.rootsPem(), ...(this.options.caTimeoutMs != null ? { timeoutMs: this.options.caTimeoutMs } : {}) })
      for (const n of notices) { await this.notices.offer(n, 'ca') }
    } catch (err: any) {
      this.log?.debug({ code: err?.code }, 'notice poll failed')
    }
  }

  private rootsPem (): string {
    return this.nd.chainVerifier.roots.map(r => derToPem(r.der, 'CERTIFICATE')).join('')
  }

  /** A TPM quote over a CA nonce and the new key, as at enrollment. */
  private async evidence (identitySpki: Uint8Array): Promise<Record<string, unknown> | undefined> {
    const a = this.files.file.attestation
    if (a == null) { return undefined }
    return enrollmentEvidence({ caUrl: this.files.file.ca_url, caCertPem: this.rootsPem(), tpm: new Tpm({ tcti: a.tcti, dir: join(this.nd.dir, a.dir) }), identitySpki })
  }

  /** After a rotation: learn new CA certificates, move live sessions onto the new certificate, rejoin after a renewal. */
  private async onRotated (e: RotatedEvent): Promise<void> {
    this.log?.info({ serial: e.serialHex, previous_serial: e.previousSerialHex, reason: e.reason, not_after: new Date(e.notAfter).toISOString(), renewed: e.renewed }, 'certificate rotated')
    const cv = this.nd.chainVerifier
    const known = new Set([...cv.roots, ...cv.intermediates].map(c => c.fingerprint))
    const fresh = this.credentials.current().chain.slice(1).map(parseCertificate).filter(c => !known.has(c.fingerprint))
    if (fresh.length > 0) { cv.setTrust({ roots: cv.roots, intermediates: [...cv.intermediates, ...fresh] }) }
    this.syncDir()
    const node = this.node
    if (node == null || this.stopped) { return }
    if (e.renewed) { this.rejoin(node) }
    const r = await node.auth.reauthenticateAll()
    this.log?.info({ ok: r.ok, failed: r.failed }, 'live sessions re-authenticated with the new certificate')
  }

  /**
   * A trust bundle: the roots it names become the trust anchors (CAs known under them stay),
   * NODEDIR keeps them, and live sessions whose chain no longer verifies are closed. When our own
   * certificate no longer chains to a trusted root, we rotate at once.
   */
  private async applyTrust (v: VerifiedNotice & { bundle: NonNullable<VerifiedNotice['bundle']> }): Promise<void> {
    const cv = this.nd.chainVerifier
    const roots = v.bundle.roots
    const now = new Date(this.now())
    const cas: Certificate[] = []
    for (const c of [...v.bundle.cas, ...cv.intermediates]) {
      if (cas.some(k => k.fingerprint === c.fingerprint)) { continue }
      if (chainsTo(now, c, roots, [...v.bundle.cas, ...cv.intermediates])) { cas.push(c) }
    }
    cv.setTrust({ roots, intermediates: cas })
    await this.files.update(async (dir, f) => persistTrust(dir, f, { roots: roots.map(r => r.der), cas: cas.map(c => c.der), sequence: v.notice.seq }))
    this.syncDir()
    this.log?.info({ seq: v.notice.seq, roots: roots.length }, 'trust bundle applied')
    const own = this.credentials.current()
    try {
      verifyChain(now, own.leaf, [...own.chain.slice(1), ...cas], roots, [], {})
    } catch {
      this.rotation.rotateSoon(0)
    }
    const r = await this.node?.auth.revalidateSessions()
    if (r != null && r.closed > 0) { this.log?.warn({ closed: r.closed }, 'sessions on certificates outside the new trust closed') }
  }

  /**
   * Keeps the runtime's view of NODEDIR (`NodeDir`) on the current pair and trust, so whatever
   * reads it at call time (the admin API's session certificate and info, the CRL poll's TLS pin)
   * follows rotations and trust bundles.
   */
  private syncDir (): void {
    const nd = this.nd
    const cur = this.credentials.current()
    nd.identity = cur.key
    nd.identityLabel = cur.label
    nd.chain = cur.chain
    nd.leaf = cur.leaf
    nd.credentials = this.credentials.credentials()
    nd.file = this.files.file
    nd.roots = nd.chainVerifier.roots
    nd.intermediates = nd.chainVerifier.intermediates
    nd.rootPem = this.rootsPem()
  }

  /** After a renewal: forget the back-offs our expired certificate earned and dial back in. */
  private rejoin (node: MeshNode): void {
    for (const e of node.blockList.list()) { if (e.until !== Infinity) { node.blockList.forgive(e.peerId) } }
    for (const addr of node.options.bootstrap) { node.dial(addr).catch(() => {}) }
    for (const p of node.peers.list()) {
      if (!node.isAuthenticated(p.peerId)) { node.libp2p.dial(peerIdFromString(p.peerId)).catch(() => {}) }
    }
  }
}

function chainsTo (now: Date, ca: Certificate, roots: Certificate[], pool: Certificate[]): boolean {
  if (roots.some(r => r.fingerprint === ca.fingerprint)) { return false }
  try {
    verifyChain(now, ca, pool, roots, [], { requiredEku: [], requireEku: false, leafKeyUsage: ['keyCertSign'], allowCaLeaf: true })
    return true
  } catch {
    return false
  }
}
