import { ANOMALY_DEFAULT_TTL_MS, ANOMALY_TOPIC, AnomalyGossipError } from '../../../protocols/anomaly-gossip/index.ts'
import { checkSendRequest } from '../../dtn/create-bundle.ts'
import { HeldOutbox } from './held-outbox.ts'
import type { NodeBundles, NodeSendRequest } from './dtn.ts'
import type { ReleaseReport } from './held-outbox.ts'
import type { AnomalyPayload } from '../../../protocols/anomaly-gossip/index.ts'
import type { SendResult } from '../../dtn/bundle-agent.ts'
import type { MeshNode } from '../../node/mesh-node.ts'
import type { MeshStore } from '../../store/mesh-store.ts'
import type { PublishedRow } from '../api/routes/gossip.ts'
import type { NodeLifecycle } from '../lifecycle/node-lifecycle.ts'
import type { Logger } from 'pino'

/** Longest wait after a rotation for a gossip peer before held sends go anyway, ms. */
const REJOIN_WAIT_MS = 10_000

/** A publish as the caller sees it: sent now, or held until the certificate is valid again. */
export interface AnomalyOutcome extends PublishedRow {
  held: boolean
}

/**
 * The runtime's rule for its own sends while its certificate is not valid (expired, renewal
 * failing; or not yet valid after a clock step): anomaly signatures and bundles go to the
 * HeldOutbox instead of being signed under a certificate every peer refuses; after each rotation
 * or renewal (and at start) the hold is released: signed with the new certificate, and sent.
 */
export class CertHold {
  readonly outbox: HeldOutbox
  readonly #lifecycle: NodeLifecycle
  readonly #node: MeshNode
  readonly #bundles: NodeBundles
  readonly #now: () => number
  readonly #log: Logger
  readonly #onRotated: () => void

  private constructor (init: CertHoldInit, outbox: HeldOutbox) {
    this.outbox = outbox
    this.#lifecycle = init.lifecycle
    this.#node = init.node
    this.#bundles = init.bundles
    this.#now = init.now
    this.#log = init.log
    this.#onRotated = () => { void this.afterRotation() }
    init.lifecycle.rotation.addEventListener('rotated', this.#onRotated)
    init.bundles.holdWhen(() => this.holding, async (req) => this.holdBundle(req))
  }

  /** Opens the hold on the node's store and hooks it to the lifecycle and the bundle layer. */
  static async start (init: CertHoldInit): Promise<CertHold> {
    return new CertHold(init, await HeldOutbox.open(init.store, init.now))
  }

  /** True while the current certificate is outside its validity. */
  get holding (): boolean {
    const leaf = this.#lifecycle.credentials.current().leaf
    const now = this.#now()
    return now < leaf.notBefore || now > leaf.notAfter
  }

  /** Publishes an anomaly signature as this node, or holds it (then `held`, 0 recipients). */
  async publishAnomaly (payload: AnomalyPayload, options: { ttl?: number } = {}): Promise<AnomalyOutcome> {
    if (!this.holding) {
      const p = await this.#node.publishAnomaly(payload, options)
      return { messageId: p.messageId, origin: p.record.origin, timestamp: p.record.timestamp, expiry: p.record.expiry, recipients: p.recipients, held: false }
    }
    const ttlSec = options.ttl ?? Math.floor((this.#node.options.gossip.defaultTtlMs ?? ANOMALY_DEFAULT_TTL_MS) / 1000)
    if (!Number.isSafeInteger(ttlSec) || ttlSec <= 0) { throw new AnomalyGossipError('INVALID_TTL', 'ttl must be a positive whole number of seconds') }
    const nodeId = this.#lifecycle.files.file.node_id
    const held = await this.outbox.holdAnomaly(payload, ttlSec)
    this.#log.warn({ message_id: `${nodeId}:${held.idSuffix}`, held: this.outbox.size }, 'certificate not valid: anomaly signature held until renewal')
    return { messageId: `${nodeId}:${held.idSuffix}`, origin: nodeId, timestamp: this.#now(), expiry: held.expiresAt, recipients: 0, held: true }
  }

  /** Sends what is held, if the certificate is valid now. */
  async release (): Promise<ReleaseReport | undefined> {
    if (this.holding || this.outbox.size === 0) { return undefined }
    const r = await this.outbox.release({
      bundle: async (req, reserved) => this.#bundles.sendReserved(req, reserved),
      anomaly: async (payload, o) => this.#node.publishAnomaly(payload, o)
    })
    this.#log.info({ sent: r.sent, expired: r.expired, left: r.left }, 'held sends released with the new certificate')
    return r
  }

  /**
   * After a renewal the node has just dialled back in: gossip published before any peer
   * subscribes reaches nobody (gossipsub never replays), so wait (bounded) for a first anomaly
   * topic peer. Whoever is still away gets our signatures by bundle (dtn-carry.ts).
   */
  private async afterRotation (): Promise<void> {
    if (this.outbox.size === 0) { return }
    const until = performance.now() + REJOIN_WAIT_MS
    while (performance.now() < until && (this.#node.gossip?.pubsub.getSubscribers(ANOMALY_TOPIC).length ?? 0) === 0) {
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    await this.release().catch(err => { this.#log.error({ err }, 'releasing held sends failed') })
  }

  stop (): void {
    this.#lifecycle.rotation.removeEventListener('rotated', this.#onRotated)
  }

  private async holdBundle (req: NodeSendRequest): Promise<SendResult> {
    checkSendRequest(req)
    const reserved = await this.#bundles.agent.reserveId(req.ttlSec)
    await this.outbox.holdBundle(req, reserved)
    this.#log.warn({ bundle_id: reserved.bundleId, held: this.outbox.size }, 'certificate not valid: bundle held until renewal')
    return { id: { source: this.#bundles.agent.self, createdAt: reserved.createdAt, sequence: reserved.sequence }, bundleId: reserved.bundleId, expiresAt: reserved.expiresAt, fragments: 0 }
  }
}

export interface CertHoldInit {
  lifecycle: NodeLifecycle
  node: MeshNode
  bundles: NodeBundles
  store: MeshStore
  now(): number
  log: Logger
}
