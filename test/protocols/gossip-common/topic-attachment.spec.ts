import { TopicValidatorResult } from '@libp2p/gossipsub'
import { expect } from 'aegir/chai'
import { TopicAttachment } from '../../../protocols/gossip-common/topic-attachment.ts'
import { FakePubSub } from '../anomaly-gossip/helpers.ts'
import type { TopicValidatorFn } from '@libp2p/gossipsub'

class NoPubsubError extends Error {
  readonly code = 'NO_PUBSUB'
}

const TOPIC = '/test/topic/1'
const validator: TopicValidatorFn = () => TopicValidatorResult.Accept

describe('gossip-common: topic attachment (start/stop plumbing of every topic service)', function () {
  it('installs the validator on start and subscribes only in afterStart, validator first', () => {
    const pubsub = new FakePubSub()
    const a = new TopicAttachment(TOPIC, validator, { pubsub }, () => new NoPubsubError())
    expect(a.start()).to.equal(true)
    expect(pubsub.topicValidators.get(TOPIC)).to.equal(validator)
    expect(pubsub.subscriptions.has(TOPIC)).to.equal(false)
    a.afterStart()
    expect(pubsub.validatorAtSubscribe.get(TOPIC)).to.equal(true)
    expect(a.start()).to.equal(false)
  })

  it('unsubscribes in beforeStop and removes only its own validator on stop', () => {
    const pubsub = new FakePubSub()
    const a = new TopicAttachment(TOPIC, validator, { pubsub }, () => new NoPubsubError())
    a.start()
    a.afterStart()
    a.beforeStop()
    expect(pubsub.subscriptions.has(TOPIC)).to.equal(false)
    const other: TopicValidatorFn = () => TopicValidatorResult.Ignore
    pubsub.topicValidators.set(TOPIC, other)
    expect(a.stop()).to.equal(true)
    expect(pubsub.topicValidators.get(TOPIC)).to.equal(other)
    expect(a.started).to.equal(false)
    expect(a.stop()).to.equal(false)
  })

  it('throws the service\'s own error without gossipsub, and installs nothing (NO_PUBSUB)', () => {
    const a = new TopicAttachment(TOPIC, validator, {}, () => new NoPubsubError())
    expect(() => a.start()).to.throw(NoPubsubError).with.property('code', 'NO_PUBSUB')
    expect(a.started).to.equal(false)
    expect(() => { a.beforeStop() }).to.not.throw()
    expect(a.stop()).to.equal(false)
  })

  it('does nothing in afterStart and beforeStop while not started', () => {
    const pubsub = new FakePubSub()
    const a = new TopicAttachment(TOPIC, validator, { pubsub }, () => new NoPubsubError())
    a.afterStart()
    expect(pubsub.subscriptions.size).to.equal(0)
    pubsub.subscriptions.add(TOPIC)
    a.beforeStop()
    expect(pubsub.subscriptions.has(TOPIC)).to.equal(true)
  })
})
