import { Counter, Gauge } from 'prom-client'
import { ANOMALY_TOPIC } from '../../protocols/anomaly-gossip/index.ts'
import { CRL_TOPIC } from '../../protocols/crl-gossip/index.ts'
import { NOTICE_TOPIC } from '../../protocols/rotate-now/index.ts'
import { boundedLabel } from '../metrics/bounded-labels.ts'
import { gossipsubMetrics } from '../metrics/gossipsub-register.ts'
import { libp2pPrometheusMetrics } from '../metrics/libp2p-metrics.ts'
import { commonName } from '../pki/name.ts'
import { relayStatus } from './relay-status.ts'
import type { MeshNode } from './mesh-node.ts'
import type { ValidationSample } from '../../protocols/gossip-common/index.ts'
import type { GossipsubMetricsOptions } from '../metrics/gossipsub-register.ts'
import type { ChainVerifier } from '../pki/chain-verifier.ts'
import type { Metrics } from '@libp2p/interface'
import type { Registry } from 'prom-client'

/**
 * The mesh's own metrics of one node, beside what libp2p (`libp2p_*`, `dadm_mesh_kad_*`), the
 * protocols (`dadm_mesh_auth_results_total{code}`, `dadm_mesh_attest_results_total{code}`,
 * `dadm_mesh_revoke_push_total`) and gossipsub (`gossipsub_*`) register in the same registry.
 * Counters follow the node's events; gauges are read from its state at scrape time, so a
 * scrape costs a walk of the peer table and nothing runs between scrapes.
 */

/** The mesh's gossipsub topics and their label values: the only topic labels any metric carries. */
export const MESH_TOPIC_LABELS: Readonly<Record<string, string>> = {
  [ANOMALY_TOPIC]: 'anomaly',
  [CRL_TOPIC]: 'crl',
  [NOTICE_TOPIC]: 'notice'
}

const TOPIC_VALUES = new Set(Object.values(MESH_TOPIC_LABELS))
const RESULTS = new Set(['accept', 'ignore', 'reject'])

/** libp2p's metrics (`createLibp2p({ metrics })`) and gossipsub's metric options over `registry` (one node per registry). */
export function libp2pMetricsOptions (registry: Registry): { metrics(components: any): Metrics, gossipsub: GossipsubMetricsOptions } {
  return {
    metrics: libp2pPrometheusMetrics(registry),
    gossipsub: gossipsubMetrics({ registry, topics: { ...MESH_TOPIC_LABELS } })
  }
}

export interface MeshMetricsInit {
  registry: Registry
  /** The node's ChainVerifier: the CRLs it holds give the per-CA CRL number and age. */
  chainVerifier?: ChainVerifier
  now(): number
}

/** Registers the mesh metrics for `node` in `init.registry` (once per registry). */
export function registerMeshMetrics (node: MeshNode, init: MeshMetricsInit): void {
  const registers = [init.registry]
  const reauths = new Counter({ name: 'dadm_mesh_reauths_total', help: 'Live sessions moved onto a peer\'s rotated certificate', registers })
  const ended = new Counter({ name: 'dadm_mesh_sessions_ended_total', help: 'Authenticated sessions the node ended, by code (SESSION_EXPIRED, REVOKED, CHAIN_INVALID)', labelNames: ['code'], registers })
  const revoked = new Counter({ name: 'dadm_mesh_revocations_applied_total', help: 'Peers expelled because a CRL revoked them (connections closed, blocked for good)', registers })
  const equivocations = new Counter({ name: 'dadm_mesh_gossip_equivocations_total', help: 'Origins seen signing two versions of one anomaly message_id', registers })
  node.addEventListener('peer:reauthenticated', () => { reauths.inc() })
  node.addEventListener('session:ended', (e) => { ended.inc({ code: boundedLabel(e.detail.code) }) })
  node.addEventListener('peer:revoked', () => { revoked.inc() })
  node.addEventListener('anomaly:equivocation', () => { equivocations.inc() })

  // eslint-disable-next-line no-new
  new Counter({
    name: 'dadm_mesh_gossip_messages_total',
    help: 'Gossip messages validated, by topic, result (accept, ignore, reject) and the validator\'s code (none for accepts)',
    labelNames: ['topic', 'result', 'code'],
    registers,
    // The validators count per (topic, result, code) in memory; copied here at scrape time.
    collect () {
      this.reset()
      for (const s of gossipSamples(node)) {
        this.inc({ topic: boundedLabel(MESH_TOPIC_LABELS[s.topic] ?? s.topic, TOPIC_VALUES), result: boundedLabel(s.result, RESULTS), code: boundedLabel(s.code) }, s.count)
      }
    }
  })

  // eslint-disable-next-line no-new
  new Gauge({
    name: 'dadm_mesh_authenticated_peers',
    help: 'Peers with at least one open, mutually authenticated connection',
    registers,
    collect () { this.set(node.peers.list().filter(p => p.status === 'authenticated').length) }
  })
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'dadm_mesh_attestation_peers',
    help: 'Authenticated peers by their last attestation result (attested, failed, unknown = not checked yet)',
    labelNames: ['state'],
    registers,
    collect () {
      const counts = { attested: 0, failed: 0, unknown: 0 }
      for (const p of node.peers.list()) {
        if (p.status !== 'authenticated') { continue }
        counts[attestationState(p.attested)]++
      }
      for (const [state, n] of Object.entries(counts)) { this.set({ state }, n) }
    }
  })
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'dadm_mesh_blocked_peers',
    help: 'Peers the connection gater refuses now (auth back-off, or revoked for good)',
    registers,
    collect () {
      const t = init.now()
      this.set(node.blockList.list().filter(e => t < e.until).length)
    }
  })
  registerRelayMetrics(node, registers)
  if (init.chainVerifier != null) { registerCrlMetrics(init.chainVerifier, registers, init.now) }
}

function attestationState (attested: boolean | 'unknown'): 'attested' | 'failed' | 'unknown' {
  if (attested === 'unknown') { return 'unknown' }
  return attested ? 'attested' : 'failed'
}

function gossipSamples (node: MeshNode): ValidationSample[] {
  const g = node.gossip
  if (g == null) { return [] }
  return [...g.anomaly.validationMetrics.snapshot(), ...g.crl.validationMetrics.snapshot()]
}

/** Relay reservations granted here and held elsewhere, and the member-only gate's refusals. */
function registerRelayMetrics (node: MeshNode, registers: Registry[]): void {
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'dadm_mesh_relay_reservations',
    help: 'Circuit relay v2 reservations: granted = members holding one on this node, held = member relays this node holds one on',
    labelNames: ['side'],
    registers,
    collect () {
      const s = relayStatus(node)
      this.set({ side: 'granted' }, s.reservationsGranted)
      this.set({ side: 'held' }, s.relays.length)
    }
  })
  // eslint-disable-next-line no-new
  new Counter({
    name: 'dadm_mesh_relay_refused_total',
    help: 'Relay requests refused by the member-only gate: reservation, connect (relay side), inbound (reserved side)',
    labelNames: ['kind'],
    registers,
    collect () {
      this.reset()
      const r = relayStatus(node).refused
      this.inc({ kind: 'reservation' }, r.reservation)
      this.inc({ kind: 'connect' }, r.connect)
      this.inc({ kind: 'inbound' }, r.inbound)
    }
  })
  // eslint-disable-next-line no-new
  new Counter({
    name: 'dadm_mesh_relay_relayed_bytes_total',
    help: 'Bytes this node carried as a circuit relay between members (both directions), since start',
    registers,
    collect () { this.reset(); this.inc(relayStatus(node).relayedBytes) }
  })
}

/**
 * Per CA (the issuer's common name; bounded by the trust anchors, since only CRLs a trusted CA
 * signed are installed): the CRL number held, its age and the time left until its nextUpdate
 * (negative once it is stale).
 */
function registerCrlMetrics (verifier: ChainVerifier, registers: Registry[], now: () => number): void {
  const each = (fn: (ca: string, crl: ChainVerifier['crls'][number]) => void): void => {
    for (const crl of verifier.crls) { fn(boundedLabel(commonName(crl.issuer) ?? 'unnamed'), crl) }
  }
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'dadm_mesh_crl_number',
    help: 'cRLNumber of the CRL installed, per CA',
    labelNames: ['ca'],
    registers,
    collect () { this.reset(); each((ca, crl) => { if (crl.crlNumber != null) { this.set({ ca }, Number(crl.crlNumber)) } }) }
  })
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'dadm_mesh_crl_age_seconds',
    help: 'Seconds since the thisUpdate of the CRL installed, per CA',
    labelNames: ['ca'],
    registers,
    collect () { this.reset(); each((ca, crl) => { this.set({ ca }, (now() - crl.thisUpdate) / 1000) }) }
  })
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'dadm_mesh_crl_next_update_seconds',
    help: 'Seconds until the nextUpdate of the CRL installed, per CA (negative: stale)',
    labelNames: ['ca'],
    registers,
    collect () { this.reset(); each((ca, crl) => { if (crl.nextUpdate != null) { this.set({ ca }, (crl.nextUpdate - now()) / 1000) } }) }
  })
}
