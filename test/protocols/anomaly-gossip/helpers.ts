import type { MeshPubSub } from '../../../protocols/gossip-common/topic-attachment.ts'
import type { Message, PublishResult, TopicValidatorFn } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'

/** The gossipsub surface the services use, recorded instead of sent. */
export class FakePubSub implements MeshPubSub {
  readonly topicValidators = new Map<string, TopicValidatorFn>()
  readonly subscriptions = new Set<string>()
  readonly published: Array<{ topic: string, data: Uint8Array }> = []
  /** What subscribe() saw in topicValidators when it was called. */
  readonly validatorAtSubscribe = new Map<string, boolean>()

  subscribe (topic: string): void {
    this.validatorAtSubscribe.set(topic, this.topicValidators.has(topic))
    this.subscriptions.add(topic)
  }

  unsubscribe (topic: string): void {
    this.subscriptions.delete(topic)
  }

  async publish (topic: string, data: Uint8Array): Promise<PublishResult> {
    this.published.push({ topic, data })
    return { recipients: [] }
  }
}

/** A StrictSign message as gossipsub hands it to a topic validator (signature already checked). */
export function signedMessage (topic: string, data: Uint8Array, from: PeerId): Message {
  return { type: 'signed', topic, data, from, sequenceNumber: 1n, signature: new Uint8Array(64), key: from.publicKey as any }
}
