import type { MetricsRegister } from '@libp2p/gossipsub/metrics'

/** The gossipsub figures a run reports per node. */
export interface GossipCounters {
  /** Copies of a message already seen (gossipsub's pre-validation duplicate count). */
  duplicates: number
  /** Messages the topic validator refused (invalid). */
  invalid: number
  rpcBytesSent: number
  rpcBytesReceived: number
}

/** The gossipsub metric names we keep; every other metric gets a no-op. */
const KEPT: Record<string, keyof GossipCounters> = {
  gossipsub_pre_validation_duplicate_total: 'duplicates',
  gossipsub_pre_validation_invalid_total: 'invalid',
  gossipsub_rpc_sent_bytes_total: 'rpcBytesSent',
  gossipsub_rpc_recv_bytes_total: 'rpcBytesReceived'
}

const NOOP = { inc () {}, set () {}, addCollect () {}, observe () {}, reset () {}, startTimer: () => () => {} }

/**
 * A gossipsub `metricsRegister` (its public metrics hook) that keeps four plain counters per
 * node and ignores everything else, so the duplicate and byte figures come from gossipsub itself
 * at the cost of an increment.
 */
export function countingRegister (counters: GossipCounters): MetricsRegister {
  return {
    gauge (config: { name: string }) {
      const field = KEPT[config.name]
      if (field == null) { return NOOP as any }
      return {
        inc (a?: unknown, b?: number) {
          // Labelled gauges are called inc(labels, value); plain ones inc(value).
          const v = typeof a === 'number' ? a : (b ?? 1)
          counters[field] += v
        },
        set () {},
        addCollect () {}
      } as any
    },
    histogram: () => NOOP as any,
    avgMinMax: () => NOOP as any
  }
}

export function newCounters (): GossipCounters {
  return { duplicates: 0, invalid: 0, rpcBytesSent: 0, rpcBytesReceived: 0 }
}
