import { toTopicValidatorResult } from '../anomaly-gossip/gossip-result.ts'
import { MAX_NOTICE_BYTES, NOTICE_TOPIC } from './constants.ts'
import { NOTICE_CODE_ACTIONS } from './errors.ts'
import type { NoticeVerdict } from './push.ts'
import type { Message, TopicValidatorFn, TopicValidatorResult } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'

/** The part of gossipsub notice gossip uses (the node's `pubsub` service). */
export interface NoticePubSub {
  topicValidators: Map<string, TopicValidatorFn>
  subscribe(topic: string): void
  unsubscribe(topic: string): void
  publish(topic: string, data: Uint8Array): Promise<unknown>
}

export interface NoticeGossipInit {
  pubsub: NoticePubSub
  /**
   * Judges and acts on a notice that arrived by gossip (the node's NoticeCenter), resolving its
   * verdict. The center must not publish a notice that came by gossip: gossipsub forwards an
   * accepted message itself.
   */
  judge(bytes: Uint8Array, from: string): Promise<NoticeVerdict>
}

/**
 * CA-signed notices on gossipsub (issue 9: rotate-now and trust bundles travel by gossip plus
 * push). The validator hands each message to the node's notice judge and maps its verdict the
 * way every mesh topic does: accepted -> Accept (gossipsub forwards it), late/duplicate/stale ->
 * Ignore, forged or malformed -> Reject (the relay's P4 score drops). The message id is a hash of
 * the bytes (meshMsgIdFn), so copies published by many nodes, and the push copies, are one message.
 */
export class NoticeGossip {
  readonly topic = NOTICE_TOPIC
  readonly #init: NoticeGossipInit
  readonly #validator: TopicValidatorFn
  #started = false

  constructor (init: NoticeGossipInit) {
    this.#init = init
    this.#validator = async (from: PeerId, msg: Message): Promise<TopicValidatorResult> => this.validate(from, msg)
  }

  /** Installs the validator, then subscribes (gossipsub must be running). */
  start (): void {
    if (this.#started) { return }
    this.#init.pubsub.topicValidators.set(NOTICE_TOPIC, this.#validator)
    this.#init.pubsub.subscribe(NOTICE_TOPIC)
    this.#started = true
  }

  stop (): void {
    if (!this.#started) { return }
    this.#started = false
    this.#init.pubsub.unsubscribe(NOTICE_TOPIC)
    if (this.#init.pubsub.topicValidators.get(NOTICE_TOPIC) === this.#validator) { this.#init.pubsub.topicValidators.delete(NOTICE_TOPIC) }
  }

  /** Gossips a notice this node accepted from elsewhere (push, CA poll, operator). Never throws. */
  async publish (bytes: Uint8Array): Promise<boolean> {
    if (!this.#started) { return false }
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
