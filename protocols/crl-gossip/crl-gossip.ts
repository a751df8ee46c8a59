import { serviceDependencies, TypedEventEmitter } from '@libp2p/interface'
import { GossipValidationMetrics, toTopicValidatorResult } from '../gossip-common/gossip-result.ts'
import { TopicAttachment } from '../gossip-common/topic-attachment.ts'
import { encodeCrlMessage } from './codec.ts'
import { DEFAULT_CRL_GRACE_MS, DEFAULT_MAX_SKEW_MS, TOPIC } from './constants.ts'
import { CrlGossipError } from './errors.ts'
import { validateCrlMessage } from './validate.ts'
import type { CrlAuthority, CrlValidationContext, CrlVerdict } from './validate.ts'
import type { Crl } from '../../src/pki/crl.ts'
import type { MeshPubSub } from '../gossip-common/topic-attachment.ts'
import type { Message, TopicValidatorFn } from '@libp2p/gossipsub'
import type { ComponentLogger, Logger, Metrics, PeerId, Startable, TypedEventTarget } from '@libp2p/interface'

/** Where a CRL came from: gossip, a revoke push, an HTTP fetch, or this node itself. */
export type CrlSource = 'gossip' | 'push' | 'fetch' | 'local'

/** A CRL the node accepted and installed; the argument of `onNewCrl`. */
export interface NewCrlEvent {
  crl: Crl
  crlNumber: bigint
  /** The number held before, if any. */
  previousNumber?: bigint
  /** Serials (hex) this CRL revoked that were not revoked before. */
  newlyRevoked: string[]
  source: CrlSource
  /** The relay, for gossip and push. */
  from?: string
}

/** The node's CRL state: check (CrlAuthority) and install; `ChainVerifier` fits as is. */
export interface CrlHolder extends CrlAuthority {
  /** Installs a CRL already checked by the validator; throws ChainValidationError on a race it loses. */
  installCrl(crl: Crl, now: Date): { newlyRevoked: string[] }
  /** The newest CRL held per issuer. */
  readonly crls: Crl[]
}

export interface CrlGossipComponents {
  logger: ComponentLogger
  pubsub?: MeshPubSub
  metrics?: Metrics
}

export interface CrlGossipInit {
  /** The node's CRL state (its ChainVerifier). Required. */
  holder: CrlHolder
  /**
   * The node's revocation enforcement point, called once per newly installed CRL (close
   * connections, block redials, drop gossip, clean tables). Errors are logged, not retried.
   *
   * @default nothing beyond installing it in `holder`
   */
  onNewCrl?(event: NewCrlEvent): void | Promise<void>
  /** The peer table's "authenticated and not revoked". @default every relay is a member */
  isMember?(peerId: string): boolean
  /** The clock, ms since the epoch. @default Date.now */
  now?(): number
  /** @default DEFAULT_MAX_SKEW_MS (5 min) */
  maxSkewMs?: number
  /** @default DEFAULT_CRL_GRACE_MS (0) */
  graceMs?: number
}

export interface CrlGossipEvents {
  'crl:accepted': CustomEvent<NewCrlEvent>
}

/** Accepts CA-signed CRLs from `/dadm-mesh/crl/1` (and other sources) and publishes newer ones. */
export interface CrlGossip extends Startable, TypedEventTarget<CrlGossipEvents> {
  readonly topic: string
  readonly validationMetrics: GossipValidationMetrics
  /** The same acceptance as gossip, for CRL messages (`encodeCrlMessage`) from a revoke push, an HTTP fetch or the local CA; an accepted one is gossiped on. */
  offer(messageBytes: Uint8Array, source: CrlSource, from?: string): Promise<CrlVerdict>
  /** Publishes `crlDer`, or every CRL held when omitted. Resolves the number of direct recipients. */
  publishCrl(crlDer?: Uint8Array): Promise<number>
  readonly topicValidator: TopicValidatorFn
}

export class DefaultCrlGossip extends TypedEventEmitter<CrlGossipEvents> implements CrlGossip {
  readonly topic = TOPIC
  readonly validationMetrics: GossipValidationMetrics
  readonly [serviceDependencies] = ['@libp2p/pubsub']
  readonly [Symbol.toStringTag] = '@dadm-mesh/crl-gossip'
  private readonly init: CrlGossipInit
  private readonly log: Logger
  private readonly now: () => number
  private readonly ctx: CrlValidationContext
  private readonly attachment: TopicAttachment

  constructor (components: CrlGossipComponents, init: CrlGossipInit) {
    super()
    this.init = init
    this.log = components.logger.forComponent('dadm-mesh:crl-gossip')
    this.now = init.now ?? Date.now
    this.validationMetrics = new GossipValidationMetrics(components.metrics)
    this.ctx = {
      authority: init.holder,
      maxSkewMs: init.maxSkewMs ?? DEFAULT_MAX_SKEW_MS,
      graceMs: init.graceMs ?? DEFAULT_CRL_GRACE_MS,
      ...(init.isMember != null ? { isMember: init.isMember } : {})
    }
    this.topicValidator = this.topicValidator.bind(this)
    this.attachment = new TopicAttachment(TOPIC, this.topicValidator, components,
      () => new CrlGossipError('NO_PUBSUB', 'CRL gossip needs the gossipsub service registered as `pubsub`'))
  }

  async start (): Promise<void> {
    this.attachment.start()
  }

  async afterStart (): Promise<void> {
    this.attachment.afterStart()
  }

  async beforeStop (): Promise<void> {
    this.attachment.beforeStop()
  }

  async stop (): Promise<void> {
    this.attachment.stop()
  }

  /** The gossipsub topic validator. Validation and installation happen in one synchronous step, so two CRLs cannot both pass as "newer". */
  topicValidator (propagationSource: PeerId, msg: Message): ReturnType<TopicValidatorFn> {
    const verdict = this.decide(msg.data, 'gossip', propagationSource.toString())
    return toTopicValidatorResult(verdict.action)
  }

  async offer (messageBytes: Uint8Array, source: CrlSource, from?: string): Promise<CrlVerdict> {
    const verdict = this.decide(messageBytes, source, from)
    // A CRL newer than ours that reached us some other way is gossiped on at once, so that
    // revocation spreads from whichever node learnt it first (the CA, or any node holding a newer
    // CRL). Gossiped ones gossipsub forwards itself.
    if (verdict.action === 'accept' && source !== 'gossip' && this.attachment.started) {
      try {
        await this.publishCrl(verdict.crl.der)
      } catch (err: any) {
        this.log.error('gossiping CRL %s failed - %e', verdict.crl.crlNumber, err)
      }
    }
    return verdict
  }

  async publishCrl (crlDer?: Uint8Array): Promise<number> {
    if (!this.attachment.started) { throw new CrlGossipError('NOT_STARTED', 'CRL gossip is not running') }
    const ders = crlDer != null ? [crlDer] : this.init.holder.crls.map(c => c.der)
    if (ders.length === 0) { throw new CrlGossipError('NOTHING_TO_PUBLISH', 'no CRL to publish') }
    let recipients = 0
    for (const der of ders) {
      const result = await this.attachment.pubsub.publish(TOPIC, encodeCrlMessage(der))
      recipients += result.recipients.length
    }
    return recipients
  }

  private decide (bytes: Uint8Array, source: CrlSource, from?: string): CrlVerdict {
    const now = this.now()
    // Pushed, fetched and local CRLs have no relay to judge; only gossip checks membership.
    const ctx = source === 'gossip' ? this.ctx : { ...this.ctx, isMember: undefined }
    let verdict = validateCrlMessage(now, { messageBytes: bytes, from: from ?? '' }, ctx)
    if (verdict.action === 'accept') {
      try {
        const installed = this.init.holder.installCrl(verdict.crl, new Date(now))
        this.announce({
          crl: verdict.crl,
          crlNumber: verdict.crl.crlNumber as bigint,
          ...(verdict.previousNumber != null ? { previousNumber: verdict.previousNumber } : {}),
          newlyRevoked: installed.newlyRevoked,
          source,
          ...(from != null && from !== '' ? { from } : {})
        })
      } catch (err: any) {
        // Cannot happen while validate and install run in one tick; fail closed if it does.
        this.log.error('installing an accepted CRL failed - %e', err)
        verdict = { action: 'ignore', code: 'NOT_NEWER' }
      }
    } else {
      this.log.trace('%s CRL from %s (%s): %s', verdict.action, from ?? '-', source, verdict.code)
    }
    this.validationMetrics.record(TOPIC, verdict)
    return verdict
  }

  private announce (event: NewCrlEvent): void {
    this.log('installed CRL %s from %s (%s): %d newly revoked', event.crlNumber, event.from ?? '-', event.source, event.newlyRevoked.length)
    this.safeDispatchEvent('crl:accepted', { detail: event })
    const hook = this.init.onNewCrl
    if (hook == null) { return }
    Promise.resolve()
      .then(async () => { await hook(event) })
      .catch((err: Error) => { this.log.error('onNewCrl failed for CRL %s - %e', event.crlNumber, err) })
  }
}
