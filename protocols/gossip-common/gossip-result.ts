import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { CounterGroup, Metrics } from '@libp2p/interface'

/**
 * The one place where a validator verdict becomes a gossipsub result and a metric sample (after
 * Lodestar's `gossipValidatorFn`): accept -> Accept (delivered and forwarded), ignore -> Ignore
 * (dropped, no score change), reject -> Reject (dropped, and gossipsub's P4 "invalid message
 * deliveries" counter of the propagation source goes up, which the topic score params weigh).
 * Shared by every mesh gossip topic.
 */

/** What a validator decides for one message; every topic's verdicts carry one. */
export type ValidationAction = 'accept' | 'reject' | 'ignore'

/** Name of the counter (CONVENTIONS.md: `dadm_mesh_<thing>_total`). */
export const VALIDATION_METRIC = 'dadm_mesh_gossip_validation_total'

export interface VerdictLike {
  action: ValidationAction
  code?: string
}

/** Maps a verdict action to gossipsub's result. */
export function toTopicValidatorResult (action: ValidationAction): TopicValidatorResult {
  switch (action) {
    case 'accept': return TopicValidatorResult.Accept
    case 'ignore': return TopicValidatorResult.Ignore
    default: return TopicValidatorResult.Reject
  }
}

export interface ValidationSample {
  topic: string
  result: ValidationAction
  code: string
  count: number
}

/** One counter group per libp2p Metrics instance, however many services share it. */
const groups = new WeakMap<Metrics, CounterGroup>()

/**
 * Counts verdicts as `{topic, result, code}` (code `none` for accepts). Every label comes from a
 * bounded set: the mesh topics, three results, the validators' code unions. libp2p's CounterGroup has
 * a single label, so the three are joined as `topic|result|code` there; `snapshot()` gives them
 * apart (tests, the admin API).
 */
export class GossipValidationMetrics {
  private readonly counts = new Map<string, ValidationSample>()
  private readonly group?: CounterGroup

  constructor (metrics?: Metrics) {
    if (metrics != null) {
      let group = groups.get(metrics)
      if (group == null) {
        group = metrics.registerCounterGroup(VALIDATION_METRIC, {
          label: 'topic_result_code',
          help: 'Gossip messages validated, by topic, result (accept/ignore/reject) and code'
        })
        groups.set(metrics, group)
      }
      this.group = group
    }
  }

  /** Records one verdict. */
  record (topic: string, verdict: VerdictLike): void {
    const code = verdict.code ?? 'none'
    const key = `${topic}|${verdict.action}|${code}`
    const sample = this.counts.get(key)
    if (sample != null) { sample.count++ } else { this.counts.set(key, { topic, result: verdict.action, code, count: 1 }) }
    this.group?.increment({ [key]: 1 })
  }

  /** How many verdicts matched; `code` narrows to one code. */
  count (topic: string, result: ValidationAction, code?: string): number {
    let n = 0
    for (const s of this.counts.values()) {
      if (s.topic === topic && s.result === result && (code == null || s.code === code)) { n += s.count }
    }
    return n
  }

  snapshot (): ValidationSample[] {
    return [...this.counts.values()].map(s => ({ ...s }))
  }
}
