import { TypedEventEmitter } from '@libp2p/interface'

/** What one direction of a link does to the bytes it carries. */
export interface LinkParams {
  /** One-way delay, ms. */
  latencyMs: number
  /** Uniform spread around the latency, +- ms. */
  jitterMs: number
  /**
   * Chance that a chunk is lost once. Links are reliable streams (TLS over them cannot lose a
   * byte), so a loss costs what it costs a QUIC/TCP sender: one retransmission timeout of delay,
   * with head-of-line blocking behind it.
   */
  loss: number
  /** Link capacity, kbit/s; 0 is unlimited. */
  bandwidthKbps: number
}

/** The default link model: 50 ms one way (a WAN hop), no jitter, no loss, unlimited, so runs compare. */
export const DEFAULT_LINK: LinkParams = { latencyMs: 50, jitterMs: 0, loss: 0, bandwidthKbps: 0 }

export interface LinkModelEvents {
  /** Links between these groups were cut (each inner array is one side). */
  partition: CustomEvent<{ groups: number[][] }>
  heal: CustomEvent<Record<string, never>>
}

/**
 * The link model of one run: default parameters, per-pair overrides and partitions, all
 * changeable while the run goes. Every shard holds an identical copy driven by the same
 * scenario actions; the sending side of a link applies it.
 */
export class LinkModel extends TypedEventEmitter<LinkModelEvents> {
  private base: LinkParams
  private readonly pairs = new Map<string, LinkParams>()
  /** node -> group; absent means "not partitioned". */
  private group = new Map<number, number>()

  constructor (base: LinkParams = DEFAULT_LINK) {
    super()
    this.base = { ...base }
  }

  /** Parameters of the link a -> b. */
  params (a: number, b: number): LinkParams {
    return this.pairs.get(pairKey(a, b)) ?? this.base
  }

  get defaults (): LinkParams {
    return this.base
  }

  /** Changes the default of every link without an override. */
  setDefault (p: Partial<LinkParams>): void {
    this.base = { ...this.base, ...p }
  }

  /** Overrides one link (both directions). */
  setPair (a: number, b: number, p: Partial<LinkParams>): void {
    this.pairs.set(pairKey(a, b), { ...this.params(a, b), ...p })
  }

  /** True while a and b are on different sides of a partition. */
  isCut (a: number, b: number): boolean {
    if (this.group.size === 0) { return false }
    const ga = this.group.get(a)
    const gb = this.group.get(b)
    return ga != null && gb != null && ga !== gb
  }

  /** Splits the named nodes into groups; links across groups carry nothing until `heal`. */
  partition (groups: number[][]): void {
    this.group = new Map()
    groups.forEach((g, i) => { for (const n of g) { this.group.set(n, i) } })
    this.safeDispatchEvent('partition', { detail: { groups } })
  }

  heal (): void {
    this.group = new Map()
    this.safeDispatchEvent('heal', { detail: {} })
  }
}

function pairKey (a: number, b: number): string {
  return a < b ? `${a}-${b}` : `${b}-${a}`
}
