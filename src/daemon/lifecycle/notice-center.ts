import { TypedEventEmitter } from '@libp2p/interface'
import { decodeNotice, NoticeError, verifyNotice } from '../../../protocols/rotate-now/index.ts'
import type { DecodedNotice, NoticeBody, NoticeErrorCode, NoticePush, NoticeVerdict, VerifiedNotice } from '../../../protocols/rotate-now/index.ts'
import type { ChainVerifier } from '../../pki/chain-verifier.ts'

/** Where a notice came from: a peer's push (its PeerId), the operator or the CA poll. */
export type NoticeSource = string

export interface NoticeEvent {
  kind: NoticeBody['kind']
  seq: number
  digest: string
  from: NoticeSource
  /** It concerned this node and was acted on (a rotation requested, a trust bundle applied). */
  applied: boolean
}

export interface NoticeRefusedEvent {
  from: NoticeSource
  code: NoticeErrorCode
  action: 'reject' | 'ignore'
}

export interface NoticeCenterEvents {
  notice: CustomEvent<NoticeEvent>
  'notice:refused': CustomEvent<NoticeRefusedEvent>
}

export interface NoticeCenterInit {
  nodeId: string
  /** The node's one ChainVerifier: the roots and CAs a notice must chain to, its CRLs. */
  chainVerifier: Pick<ChainVerifier, 'roots' | 'intermediates' | 'isRevoked'>
  now(): number
  /** Sequence of the trust bundle in force (node.json `trust_sequence`). */
  trustSequence(): number
  /** A verified rotate-now naming this node (or every node). Returns whether it will rotate. */
  onRotateNow(notice: NoticeBody): boolean
  /** A verified trust bundle above the sequence in force: adopt, persist, re-check live sessions. */
  onTrustBundle(verified: VerifiedNotice & { bundle: NonNullable<VerifiedNotice['bundle']> }): Promise<void>
  /** Forwards accepted notices to the authenticated peers. */
  push?: Pick<NoticePush, 'push'>
  /** Gossips accepted notices that did not come by gossip (set once gossip runs: `useGossip`). */
  gossip?: { publish(bytes: Uint8Array): Promise<unknown> }
  /** Notices remembered (by digest, until they expire) so each is acted on and forwarded once. @default 4096 */
  maxSeen?: number
}

/**
 * A node's handling of CA-signed notices, whatever carried them (push, gossip, the CA poll, an
 * operator): decode, drop what was seen, verify against the trust in force (a forged or foreign
 * notice changes nothing and is not forwarded), act (request a rotation, adopt a trust bundle
 * whose sequence is above the one in force), then forward it once to every authenticated peer
 * but the one it came from. Flooding with a seen cache reaches every connected node in at most
 * diameter hops, each node sending it once per link.
 */
export class NoticeCenter extends TypedEventEmitter<NoticeCenterEvents> {
  private readonly init: NoticeCenterInit
  /** digest -> expiry (ms): insertion order, so the oldest is evicted first. */
  private readonly seen = new Map<string, number>()
  private readonly maxSeen: number
  /** Bundles applied one at a time, in sequence order of arrival. */
  private trustQueue: Promise<unknown> = Promise.resolve()

  constructor (init: NoticeCenterInit) {
    super()
    this.init = init
    this.maxSeen = init.maxSeen ?? 4096
  }

  /** Gossips accepted notices from now on (gossipsub starts with the node, after this center). */
  useGossip (gossip: NonNullable<NoticeCenterInit['gossip']> | undefined): void {
    if (gossip == null) { delete this.init.gossip } else { this.init.gossip = gossip }
  }

  /**
   * Judges and acts on one notice; resolves the verdict for the pusher or the gossip validator.
   * Never throws. `viaGossip`: it came by gossip, which forwards it itself once accepted.
   * `forward: false`: the caller forwards it itself (and waits for the outcome).
   */
  async offer (bytes: Uint8Array, from: NoticeSource, options: { viaGossip?: boolean, forward?: boolean } = {}): Promise<NoticeVerdict> {
    let decoded: DecodedNotice
    let verified: VerifiedNotice
    try {
      decoded = decodeNotice(bytes)
      // [IGNORE] seen before: acted on and forwarded already
      if (this.seen.has(decoded.digest)) { throw new NoticeError('DUPLICATE', 'notice seen before') }
      verified = verifyNotice(this.init.now(), decoded, {
        roots: this.init.chainVerifier.roots,
        intermediates: this.init.chainVerifier.intermediates,
        isRevoked: (c) => this.init.chainVerifier.isRevoked(c)
      })
    } catch (err) {
      return this.refused(err, from)
    }
    this.remember(decoded.digest, decoded.notice.exp)
    let applied = false
    try {
      applied = await this.act(verified)
    } catch (err) {
      return this.refused(err, from)
    }
    this.safeDispatchEvent('notice', { detail: { kind: decoded.notice.kind, seq: decoded.notice.seq, digest: decoded.digest, from, applied } })
    // Forward once, in the background: the pusher (or gossipsub) is waiting for our verdict.
    // Both paths, so a node reached by only one of them still passes it on by the other.
    if (options.forward === false) { return { ok: true } }
    if (this.init.push != null) {
      this.init.push.push(decoded.bytes, { except: [from] }).catch(() => {})
    }
    if (options.viaGossip !== true && this.init.gossip != null) {
      this.init.gossip.publish(decoded.bytes).catch(() => {})
    }
    return { ok: true }
  }

  private async act (v: VerifiedNotice): Promise<boolean> {
    const n = v.notice
    if (n.kind === 'rotate-now') {
      if (n.targets != null && !n.targets.includes(this.init.nodeId)) { return false }
      return this.init.onRotateNow(n)
    }
    const bundle = v.bundle
    if (bundle == null) { return false }
    const run = this.trustQueue.then(async () => {
      // [IGNORE] a bundle at or below the sequence in force: a replay, or an older bundle
      if (n.seq <= this.init.trustSequence()) { throw new NoticeError('STALE', `trust bundle ${n.seq} is not above ${this.init.trustSequence()}`) }
      await this.init.onTrustBundle({ ...v, bundle })
      return true
    })
    this.trustQueue = run.catch(() => {})
    return run
  }

  private refused (err: unknown, from: NoticeSource): NoticeVerdict {
    const code: NoticeErrorCode = err instanceof NoticeError ? err.code : 'MALFORMED'
    const action = err instanceof NoticeError ? err.action : 'reject'
    this.safeDispatchEvent('notice:refused', { detail: { from, code, action } })
    return { ok: false, code }
  }

  private remember (digest: string, exp: number): void {
    const now = this.init.now()
    for (const [d, e] of this.seen) {
      if (this.seen.size < this.maxSeen && e >= now) { break }
      this.seen.delete(d)
    }
    this.seen.set(digest, exp)
  }
}
