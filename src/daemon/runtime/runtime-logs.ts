import type { CrlPollOutcome } from './crl-poller.ts'
import type { MeshNode } from '../../node/mesh-node.ts'
import type { Logger } from 'pino'

/** What the operator sees of the mesh in the node's log: auth results, revocations, equivocations. */
export function logNodeEvents (node: MeshNode, log: Logger): void {
  node.addEventListener('peer:authenticated', e => { log.info({ peer: e.detail.peerId, node_id: e.detail.nodeId, transport: e.detail.transport }, 'peer authenticated') })
  node.addEventListener('peer:auth-failed', e => { log.warn({ peer: e.detail.peerId, code: e.detail.code, chain_code: e.detail.chainCode }, 'peer refused') })
  node.addEventListener('peer:revoked', e => { log.warn({ peer: e.detail.peerId, node_id: e.detail.nodeId, serial: e.detail.serialHex }, 'peer revoked: connections closed') })
  node.addEventListener('anomaly:equivocation', e => { log.warn({ node_id: e.detail.nodeId, peer: e.detail.peerId, message_id: e.detail.messageId }, 'origin signed two versions of one anomaly signature; kept the first') })
}

/** A failed or stale CRL fetch, once per poll. */
export function logPoll (log: Logger, r: { outcome?: CrlPollOutcome, error?: unknown, failures: number, nextInMs: number }): void {
  if (r.error != null) {
    const e = r.error as { name?: string, code?: string }
    log.warn({ code: `${String(e.name)}:${String(e.code)}`, failures: r.failures, retry_in_ms: r.nextInMs }, 'CRL fetch failed')
  } else if (r.outcome?.status === 'stale') {
    log.warn({}, 'CA served an older CRL than the one held; kept ours')
  }
}
