import { randomUUID } from 'node:crypto'
import { serviceDependencies, TypedEventEmitter } from '@libp2p/interface'
import { parseCertificate } from '../../src/pki/certificate.ts'
import { nodeIdentity } from '../../src/pki/node-identity.ts'
import { GossipValidationMetrics, toTopicValidatorResult } from '../gossip-common/gossip-result.ts'
import { TopicAttachment } from '../gossip-common/topic-attachment.ts'
import { encodeEnvelope, encodePayload, envelopeDigest } from './codec.ts'
import { DEFAULT_MAX_SKEW_MS, DEFAULT_SWEEP_INTERVAL_MS, DEFAULT_TTL_MS, MAX_TTL_MS, MIN_TTL_MS, TOPIC, WIRE_VERSION } from './constants.ts'
import { DelegationCache } from './delegation-cache.ts'
import { peekEnvelope, releaseEnvelope } from './envelope-memo.ts'
import { EquivocationReports } from './equivocation.ts'
import { AnomalyGossipError, AnomalyRefusedError } from './errors.ts'
import { GossipKeyEpochs, signEnvelope } from './gossip-key.ts'
import { checkOrigin } from './origin-check.ts'
import { RecentMemo } from './recent-memo.ts'
import { reverifyEnvelope } from './reverify.ts'
import { isConflict, validateAnomaly } from './validate.ts'
import type { AnomalyEnvelope, AnomalyPayload } from './codec.ts'
import type { EquivocationLimits, EquivocationReport } from './equivocation.ts'
import type { AnomalyValidationCode } from './errors.ts'
import type { OriginChecked } from './origin-check.ts'
import type { StoredVerification } from './reverify.ts'
import type { AnomalyAccepted, AnomalyValidationContext, OriginChainVerifier } from './validate.ts'
import type { Certificate } from '../../src/pki/certificate.ts'
import type { IdentitySigner } from '../../src/pki/peer-verifier.ts'
import type { AnomalyRecord, AnomalyStore } from '../../src/store/anomaly-store.ts'
import type { MeshPubSub } from '../gossip-common/topic-attachment.ts'
import type { Message, TopicValidatorFn } from '@libp2p/gossipsub'
import type { ComponentLogger, Logger, Metrics, PeerId, Startable, TypedEventTarget } from '@libp2p/interface'

/** A v4-style UUID as randomUUID makes it (lower-case hex, dashes): the promised id suffix. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

export interface AnomalyGossipComponents {
  peerId: PeerId
  logger: ComponentLogger
  /** gossipsub, configured with `meshGossipsubOptions` and registered as the service `pubsub`. */
  pubsub?: MeshPubSub
  metrics?: Metrics
}

/** Who we are when we publish: our node_id's chain, leaf first (it becomes `origin_cert`), and our identity key. */
export interface AnomalyOrigin {
  chain: Uint8Array[]
  /** The identity key of the leaf: it signs one delegation per epoch (gossip-key.ts). */
  signer?: IdentitySigner
}

export interface AnomalyGossipInit {
  /** Where accepted and published signatures go; its seen index is the validator's. Required. */
  store: AnomalyStore
  /** Origin chain checks, cached per chain (the node's ChainVerifier). Required. */
  verifier: OriginChainVerifier
  /** Our current chain, read on every publish so a rotated certificate is used at once. Required. */
  origin(): AnomalyOrigin
  /** The peer table's "authenticated and not revoked". @default every relay is a member */
  isMember?(peerId: string): boolean
  /** False for an origin certificate the attestation policy refuses (ORIGIN_NOT_ATTESTED). @default every origin passes */
  originAttested?(leaf: Certificate): boolean
  /** Revoked node_ids (operator deny list). @default none */
  isRevoked?(nodeId: string): boolean
  /** The clock, ms since the epoch. @default Date.now */
  now?(): number
  /** @default DEFAULT_MAX_SKEW_MS (5 min) */
  maxSkewMs?: number
  /** @default DEFAULT_TTL_MS (1 h) */
  defaultTtlMs?: number
  /** @default MAX_TTL_MS (24 h) */
  maxTtlMs?: number
  /** Sweep period of expired signatures; 0 disables the timer. @default 60 s */
  sweepIntervalMs?: number
  /** Bounds of the equivocation reports. @default EQUIVOCATION_DEFAULTS (8 per origin per hour, 1024 origins) */
  equivocation?: EquivocationLimits
  /** Lifetime of a gossip key's delegation (capped by our certificate's notAfter). @default DEFAULT_EPOCH_MS (6 h) */
  epochMs?: number
}

export interface PublishOptions {
  /** Lifetime of the signature, ms. @default defaultTtlMs */
  ttlMs?: number
  /**
   * The random part of the message_id (`<node_id>:<uuid>`), when the id was promised before the
   * signature is made (a node holding what it publishes while its certificate is not valid).
   *
   * @default a new random UUID
   */
  idSuffix?: string
  /**
   * The envelope's timestamp, ms, when the content was fixed before the signature is made (a
   * held send): publishing it again after a crash then repeats the same content, and so the same
   * gossip id, instead of a second version of its message_id that peers report as equivocation.
   * Not in the future; the lifetime counts from it.
   *
   * @default now
   */
  timestamp?: number
}

export interface PublishedAnomaly {
  messageId: string
  record: AnomalyRecord
  /** Peers gossipsub sent it to directly (0 when alone: it is stored all the same). */
  recipients: number
}

export interface AnomalyGossipEvents {
  /**
   * An origin signed a second version of a message_id we hold (bounded per origin, see
   * EquivocationReports). The version we hold stays; the other was refused as CONFLICTING_PAYLOAD.
   */
  equivocation: CustomEvent<EquivocationReport>
}

/** Publishes our anomaly signatures and validates everyone's on `/dadm-mesh/anomaly/1`. */
export interface AnomalyGossip extends Startable, TypedEventTarget<AnomalyGossipEvents> {
  readonly topic: string
  /** Verdict counts by {topic, result, code}. */
  readonly validationMetrics: GossipValidationMetrics
  /** Equivocating origins and recent reports (the operator's listing). */
  readonly equivocations: EquivocationReports
  publish(payload: AnomalyPayload, options?: PublishOptions): Promise<PublishedAnomaly>
  /**
   * Publishes an envelope another member signed (pre-signed publication): checked exactly as a
   * received message, stored, and gossiped byte for byte. Throws AnomalyRefusedError with the
   * validator's code (REPLAYED for one we hold).
   */
  submit(envelopeBytes: Uint8Array): Promise<PublishedAnomaly>
  /** Whether an envelope's origin proof verifies now; cached per decoded envelope (gossipsub's msgIdFn asks). */
  originProven(envelope: AnomalyEnvelope): boolean
  /** Checks a stored envelope's origin proof again, against today's trust and revocation (reverify.ts). */
  reverify(envelopeBytes: Uint8Array): StoredVerification
  /** Our gossip key epochs (identity signatures made). */
  readonly epochs: GossipKeyEpochs
  /** The topic validator as installed on gossipsub (exposed for tests and benchmarks). */
  readonly topicValidator: TopicValidatorFn
}

export class DefaultAnomalyGossip extends TypedEventEmitter<AnomalyGossipEvents> implements AnomalyGossip, Startable {
  readonly topic = TOPIC
  readonly validationMetrics: GossipValidationMetrics
  readonly equivocations: EquivocationReports
  readonly [serviceDependencies] = ['@libp2p/pubsub']
  private readonly components: AnomalyGossipComponents
  private readonly init: AnomalyGossipInit
  private readonly log: Logger
  private readonly now: () => number
  private readonly ctx: AnomalyValidationContext
  private readonly attachment: TopicAttachment
  private sweeper?: ReturnType<typeof setInterval>
  /** Our leaf, the node_id it names and its notAfter, from the last publish. */
  private ownLeaf?: { der: Uint8Array, nodeId: string, notAfter: number }
  readonly epochs: GossipKeyEpochs
  /** checkOrigin results of envelopes msgIdFn asked about, for the validator that runs next on the same envelope. */
  private readonly proofs = new RecentMemo<AnomalyEnvelope, OriginChecked | AnomalyValidationCode>()

  constructor (components: AnomalyGossipComponents, init: AnomalyGossipInit) {
    super()
    this.components = components
    this.init = init
    this.log = components.logger.forComponent('dadm-mesh:anomaly-gossip')
    this.now = init.now ?? Date.now
    this.validationMetrics = new GossipValidationMetrics(components.metrics)
    this.equivocations = new EquivocationReports(init.equivocation)
    this.epochs = new GossipKeyEpochs(init.epochMs)
    this.ctx = {
      verifier: init.verifier,
      delegations: new DelegationCache(),
      seen: (id) => init.store.seen(id),
      maxSkewMs: init.maxSkewMs ?? DEFAULT_MAX_SKEW_MS,
      maxTtlMs: init.maxTtlMs ?? MAX_TTL_MS,
      ...(init.isRevoked != null ? { isRevoked: init.isRevoked } : {}),
      ...(init.isMember != null ? { isMember: init.isMember } : {}),
      ...(init.originAttested != null ? { originAttested: init.originAttested } : {})
    }
    this.topicValidator = this.topicValidator.bind(this)
    this.originProven = this.originProven.bind(this)
    this.attachment = new TopicAttachment(TOPIC, this.topicValidator, components,
      () => new AnomalyGossipError('NO_PUBSUB', 'anomaly gossip needs the gossipsub service registered as `pubsub`'))
  }

  readonly [Symbol.toStringTag] = '@dadm-mesh/anomaly-gossip'

  async start (): Promise<void> {
    if (!this.attachment.start()) { return }
    const every = this.init.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS
    if (every > 0) {
      this.sweeper = setInterval(() => { this.sweep() }, every)
      this.sweeper.unref?.()
    }
  }

  async afterStart (): Promise<void> {
    this.attachment.afterStart()
  }

  async beforeStop (): Promise<void> {
    this.attachment.beforeStop()
  }

  async stop (): Promise<void> {
    if (!this.attachment.stop()) { return }
    if (this.sweeper != null) { clearInterval(this.sweeper) }
    this.sweeper = undefined
    // Accepted signatures still waiting for their batch are written before the store can close.
    await this.init.store.flush()
  }

  /** The gossipsub topic validator: validate, count, store on accept, map to the gossipsub result. */
  topicValidator (propagationSource: PeerId, msg: Message): ReturnType<TopicValidatorFn> {
    const from = propagationSource.toString()
    const decoded = peekEnvelope(msg.data)
    const proof = decoded instanceof Error ? undefined : this.proofs.get(decoded)
    const verdict = validateAnomaly(this.now(), { envelopeBytes: msg.data, from, decoded, ...(proof != null ? { origin: proof } : {}) }, this.ctx)
    if (!(decoded instanceof Error)) { this.proofs.delete(decoded) }
    releaseEnvelope(msg.data)
    this.validationMetrics.record(TOPIC, verdict)
    if (verdict.action === 'accept') {
      void this.keep(this.recordOf(verdict, 'gossip', msg.data, from))
    } else if (isConflict(verdict)) {
      const report = this.equivocations.note(this.now(), verdict, from)
      if (report != null) {
        this.log('equivocation: origin %s (%s) signed a second version of %s; kept the first', report.nodeId, report.peerId, report.messageId)
        this.safeDispatchEvent('equivocation', { detail: report })
      }
    } else {
      this.log.trace('%s message from %s: %s', verdict.action, from, verdict.code)
    }
    return toTopicValidatorResult(verdict.action)
  }

  async publish (payload: AnomalyPayload, options: PublishOptions = {}): Promise<PublishedAnomaly> {
    if (!this.attachment.started) { throw new AnomalyGossipError('NOT_STARTED', 'anomaly gossip is not running') }
    const ttl = options.ttlMs ?? this.init.defaultTtlMs ?? DEFAULT_TTL_MS
    if (!Number.isSafeInteger(ttl) || ttl < MIN_TTL_MS || ttl > (this.init.maxTtlMs ?? MAX_TTL_MS)) {
      throw new AnomalyGossipError('INVALID_TTL', `ttl must be between ${MIN_TTL_MS} and ${this.init.maxTtlMs ?? MAX_TTL_MS} ms`)
    }
    if (options.idSuffix != null && !UUID.test(options.idSuffix)) { throw new AnomalyGossipError('INVALID_ID', 'idSuffix must be a UUID') }
    const { chain, signer } = this.init.origin()
    const { nodeId, notAfter } = this.ownLeafOf(chain)
    if (signer == null) { throw new AnomalyGossipError('NO_SIGNER', 'no identity signer to delegate a gossip key with') }
    const now = this.now()
    const at = options.timestamp ?? now
    if (!Number.isSafeInteger(at) || at > now || at + ttl <= now) {
      throw new AnomalyGossipError('INVALID_TTL', 'timestamp must lie in the past, with its lifetime not yet over')
    }
    const epoch = await this.epochs.current(now, at, { nodeId, notAfter, leaf: chain[0], signer })
    const envelope: AnomalyEnvelope = signEnvelope({
      v: WIRE_VERSION,
      // A random UUID: unique without persisted state, and no clock rollback can ever reuse one.
      message_id: `${nodeId}:${options.idSuffix ?? randomUUID()}`,
      origin: nodeId,
      timestamp: at,
      expiry: at + ttl,
      payload: encodePayload(payload),
      origin_cert: chain
    }, epoch)
    const bytes = encodeEnvelope(envelope)
    const record = this.recordOf({ envelope, payload, digest: envelopeDigest(envelope), origin: { nodeId, peerId: this.components.peerId.toString() } }, 'local', bytes)
    // Sent first, then stored (before we return): the local write is not on the path to the
    // other nodes. keep never throws; a failed write is logged, as a failed send is thrown.
    const result = await this.attachment.pubsub.publish(TOPIC, bytes).finally(async () => { await this.keep(record) })
    this.log('published %s to %d peers', envelope.message_id, result.recipients.length)
    return { messageId: envelope.message_id, record, recipients: result.recipients.length }
  }

  async submit (envelopeBytes: Uint8Array): Promise<PublishedAnomaly> {
    if (!this.attachment.started) { throw new AnomalyGossipError('NOT_STARTED', 'anomaly gossip is not running') }
    const self = this.components.peerId.toString()
    // Exactly the checks of a received message, but for the relay's membership: the caller is
    // the API's authenticated client, not a gossip peer.
    const ctx: AnomalyValidationContext = { ...this.ctx }
    delete ctx.isMember
    // Not counted in the gossip validation metrics: those say what peers sent us.
    const verdict = validateAnomaly(this.now(), { envelopeBytes, from: self }, ctx)
    if (verdict.action !== 'accept') { throw new AnomalyRefusedError(verdict.code) }
    const record = this.recordOf(verdict, 'submitted', envelopeBytes)
    // The very bytes we were given: with StrictNoSign the gossip message is topic + data, so every
    // node receives what the origin signed, byte for byte.
    const result = await this.attachment.pubsub.publish(TOPIC, envelopeBytes).finally(async () => { await this.keep(record) })
    this.log('forwarded pre-signed %s from %s to %d peers', record.message_id, record.origin, result.recipients.length)
    return { messageId: record.message_id, record, recipients: result.recipients.length }
  }

  reverify (envelopeBytes: Uint8Array): StoredVerification {
    return reverifyEnvelope(this.now(), envelopeBytes, this.ctx)
  }

  originProven (envelope: AnomalyEnvelope): boolean {
    let proof = this.proofs.get(envelope)
    if (proof == null) {
      proof = checkOrigin(new Date(this.now()), envelope, this.ctx)
      this.proofs.set(envelope, proof)
    }
    return typeof proof !== 'string'
  }

  /** Our node_id and notAfter from our leaf; refuses a chain whose PeerId is not ours (every node would reject it). */
  private ownLeafOf (chain: Uint8Array[]): { nodeId: string, notAfter: number } {
    if (chain.length === 0) { throw new AnomalyGossipError('NO_CREDENTIALS', 'no certificate chain to publish under') }
    // The same leaf array until a rotation hands us a new one: parsed once, not per publish.
    if (this.ownLeaf?.der === chain[0]) { return this.ownLeaf }
    let id
    let leaf
    try {
      leaf = parseCertificate(chain[0])
      id = nodeIdentity(leaf)
    } catch (err) {
      throw new AnomalyGossipError('NO_CREDENTIALS', 'our leaf certificate carries no mesh identity', { cause: err })
    }
    if (id.peerId !== this.components.peerId.toString()) {
      throw new AnomalyGossipError('NO_CREDENTIALS', 'our leaf certificate binds another PeerId than this node\'s')
    }
    this.ownLeaf = { der: chain[0], nodeId: id.nodeId, notAfter: leaf.notAfter }
    return this.ownLeaf
  }

  private recordOf (v: Pick<AnomalyAccepted, 'envelope' | 'payload' | 'digest' | 'origin'>, source: AnomalyRecord['source'], bytes: Uint8Array, relay?: string): AnomalyRecord {
    return {
      message_id: v.envelope.message_id,
      origin: v.origin.nodeId,
      origin_peer_id: v.origin.peerId,
      timestamp: v.envelope.timestamp,
      expiry: v.envelope.expiry,
      payload: v.payload,
      digest: v.digest,
      received_at: this.now(),
      source,
      // The exact bytes, so the origin's signature can be checked again later (`gossip verify`).
      envelope: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64'),
      ...(relay != null ? { relay } : {})
    }
  }

  /** Writes a record to the store; a failure is logged, never thrown (the message was accepted). */
  private async keep (record: AnomalyRecord): Promise<void> {
    try {
      await this.init.store.put(record)
    } catch (err: any) {
      this.log.error('storing %s failed - %e', record.message_id, err)
    }
  }

  private sweep (): void {
    this.init.store.sweep(this.now()).then(
      (n) => { if (n > 0) { this.log('swept %d expired signatures', n) } },
      (err: Error) => { this.log.error('sweep failed - %e', err) }
    )
  }
}
