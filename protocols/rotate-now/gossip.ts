import { toTopicValidatorResult } from '../gossip-common/gossip-result.ts'
import { TopicAttachment } from '../gossip-common/topic-attachment.ts'
import { MAX_NOTICE_BYTES, NOTICE_TOPIC } from './constants.ts'
import { NOTICE_CODE_ACTIONS } from './errors.ts'
import type { NoticeVerdict } from './push.ts'
import type { MeshPubSub } from '../gossip-common/topic-attachment.ts'
import type { Message, TopicValidatorFn, TopicValidatorResult } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'

export interface NoticeGossipInit {
  /** The node's gossipsub (`pubsub` service), already running. */
  pubsub: MeshPubSub
  /**
   * Judges and acts on a notice that arrived by gossip (the node's NoticeCenter), resolving its
   * verdict. The center must not publish a notice that came by gossip: gossipsub forwards an
   * accepted message itself.
   */
  judge(bytes: Uint8Array, from: string): Promise<NoticeVerdict>
}

/**
 * CA-signed notices on gossipsub. Rotate-now notices and trust bundles travel by gossip as well
 * as by push, so that a node reaches them through any member when the CA cannot reach it. The validator hands each message to the node's notice judge and maps its verdict the
 * way every mesh topic does: accepted -> Accept (gossipsub forwards it), late/duplicate/stale ->
 * Ignore, forged or malformed -> Reject (the relay's P4 score drops). The message id is a hash of
 * the bytes (meshMsgIdFn), so copies published by many nodes, and the push copies, are one message.
 */
export class NoticeGossip {
  readonly topic = NOTICE_TOPIC
  readonly #init: NoticeGossipInit
  readonly #attachment: TopicAttachment

  constructor (init: NoticeGossipInit) {
    this.#init = init
    const validator: TopicValidatorFn = async (from: PeerId, msg: Message): Promise<TopicValidatorResult> => this.validate(from, msg)
    // init.pubsub is required by type, so this error is unreachable.
    this.#attachment = new TopicAttachment(NOTICE_TOPIC, validator, { pubsub: init.pubsub }, () => new TypeError('notice gossip needs a pubsub'))
  }

  /**
   * Installs the validator, then subscribes at once: this is no libp2p service but is attached to
   * a node whose gossipsub already runs.
   */
  start (): void {
    if (this.#attachment.start()) { this.#attachment.afterStart() }
  }

  stop (): void {
    this.#attachment.beforeStop()
    this.#attachment.stop()
  }

  /** Gossips a notice this node accepted from elsewhere (push, CA poll, operator). Never throws. */
  async publish (bytes: Uint8Array): Promise<boolean> {
    if (!this.#attachment.started) { return false }
    try {
      await this.#init.pubsub.publish(NOTICE_TOPIC, bytes)
      return true
    } catch {
      // Duplicate (gossip brought it first) or no peers yet: the push and the CA poll still carry it.
      return false
    }
  }

  /** The topic validator. */
  async validate (from: PeerId, msg: Message): Promise<TopicValidatorResult> {
    // Bounded before decoding, as the push's length prefix is.
    if (msg.data.byteLength > MAX_NOTICE_BYTES) { return toTopicValidatorResult(NOTICE_CODE_ACTIONS.TOO_LARGE) }
    const verdict = await this.#init.judge(msg.data, from.toString())
    return toTopicValidatorResult(verdict.ok ? 'accept' : verdict.code != null ? NOTICE_CODE_ACTIONS[verdict.code] : 'reject')
  }
}
