import type { PublishResult, TopicValidatorFn } from '@libp2p/gossipsub'

/** The part of gossipsub a topic service uses (the libp2p service named `pubsub`). */
export interface MeshPubSub {
  topicValidators: Map<string, TopicValidatorFn>
  subscribe(topic: string): void
  unsubscribe(topic: string): void
  publish(topic: string, data: Uint8Array): Promise<PublishResult>
}

/**
 * One topic's hold on gossipsub, shaped by how libp2p runs services: it starts and stops them
 * together, and gossipsub accepts subscriptions only while it runs. So a topic service installs
 * its validator in `start` (before gossipsub can deliver any message of the topic, none goes
 * unvalidated), subscribes in `afterStart`, unsubscribes in `beforeStop` (gossipsub still runs)
 * and removes its validator in `stop`, only if it is still its own (another service may have
 * taken the topic over). The service's own `start`/`stop` call these and add what is theirs.
 */
export class TopicAttachment {
  readonly topic: string
  readonly #validator: TopicValidatorFn
  readonly #components: { pubsub?: MeshPubSub }
  readonly #noPubsub: () => Error
  #started = false

  /**
   * @param topic - the gossipsub topic
   * @param validator - the topic validator, installed as it is (its identity marks it as ours)
   * @param components - the service's libp2p components
   * @param components.pubsub - gossipsub, read on each use (absent on a node without it)
   * @param noPubsub - the service's own error for a node without gossipsub under `pubsub`
   */
  constructor (topic: string, validator: TopicValidatorFn, components: { pubsub?: MeshPubSub }, noPubsub: () => Error) {
    this.topic = topic
    this.#validator = validator
    this.#components = components
    this.#noPubsub = noPubsub
  }

  get started (): boolean {
    return this.#started
  }

  /** gossipsub; throws the service's NO_PUBSUB error when the node has none. */
  get pubsub (): MeshPubSub {
    const pubsub = this.#components.pubsub
    if (pubsub == null) { throw this.#noPubsub() }
    return pubsub
  }

  /** Installs the validator. False when already started (the caller then has nothing to start). */
  start (): boolean {
    if (this.#started) { return false }
    this.pubsub.topicValidators.set(this.topic, this.#validator)
    this.#started = true
    return true
  }

  afterStart (): void {
    if (this.#started) { this.pubsub.subscribe(this.topic) }
  }

  beforeStop (): void {
    if (this.#started) { this.#components.pubsub?.unsubscribe(this.topic) }
  }

  /** Removes the validator if it is still ours. False when not started (the caller then has nothing to stop). */
  stop (): boolean {
    if (!this.#started) { return false }
    this.#started = false
    const pubsub = this.#components.pubsub
    if (pubsub?.topicValidators.get(this.topic) === this.#validator) { pubsub.topicValidators.delete(this.topic) }
    return true
  }
}
