import { TopicValidatorResult } from '@libp2p/gossipsub'
import { expect } from 'aegir/chai'
import { TOPIC } from '../../../protocols/anomaly-gossip/constants.ts'
import { TOPIC as CRL_TOPIC } from '../../../protocols/crl-gossip/constants.ts'
import { toTopicValidatorResult, GossipValidationMetrics, VALIDATION_METRIC } from '../../../protocols/gossip-common/gossip-result.ts'
import type { Metrics } from '@libp2p/interface'

describe('anomaly gossip: gossipsub glue (msg-id, gossip-result, gossipsub-options)', function () {
  it('maps actions to gossipsub results', () => {
    expect(toTopicValidatorResult('accept')).to.equal(TopicValidatorResult.Accept)
    expect(toTopicValidatorResult('ignore')).to.equal(TopicValidatorResult.Ignore)
    expect(toTopicValidatorResult('reject')).to.equal(TopicValidatorResult.Reject)
  })

  it('counts {topic, result, code} and registers the libp2p counter once per Metrics', () => {
    const increments: Array<Record<string, unknown>> = []
    let registered = 0
    const metrics = {
      registerCounterGroup: (name: string) => {
        expect(name).to.equal(VALIDATION_METRIC)
        registered++
        return { increment: (v: Record<string, unknown>) => increments.push(v), reset: () => {} }
      }
    } as unknown as Metrics
    const m1 = new GossipValidationMetrics(metrics)
    const m2 = new GossipValidationMetrics(metrics)
    m1.record(TOPIC, { action: 'reject', code: 'EXPIRED' })
    m1.record(TOPIC, { action: 'reject', code: 'EXPIRED' })
    m1.record(TOPIC, { action: 'accept' })
    m2.record(CRL_TOPIC, { action: 'ignore', code: 'NOT_NEWER' })
    expect(registered).to.equal(1)
    expect(m1.count(TOPIC, 'reject', 'EXPIRED')).to.equal(2)
    expect(m1.count(TOPIC, 'reject')).to.equal(2)
    expect(m1.count(TOPIC, 'accept')).to.equal(1)
    expect(increments).to.deep.include({ [`${CRL_TOPIC}|ignore|NOT_NEWER`]: 1 })
    expect(increments.filter(i => `${TOPIC}|reject|EXPIRED` in i)).to.have.length(2)
  })
})
