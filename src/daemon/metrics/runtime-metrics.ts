import { Counter, Gauge } from 'prom-client'
import { boundedLabel } from '../../metrics/bounded-labels.ts'
import type { NodeLifecycle } from '../lifecycle/node-lifecycle.ts'
import type { NodeBundles } from '../runtime/dtn.ts'
import type { Registry } from 'prom-client'

/**
 * The node process's metrics beyond the mesh node's: the DTN bundle store, the certificate and
 * its rotation. Gauges read the state at scrape time; counters follow events.
 */
export function registerRuntimeMetrics (registry: Registry, parts: { bundles: NodeBundles, lifecycle: NodeLifecycle }): void {
  const registers = [registry]
  const { bundles, lifecycle } = parts
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'dadm_mesh_bundle_store_bytes',
    help: 'Bytes the DTN bundle store holds, as charged against its quota',
    registers,
    collect () { this.set(bundles.store.usage.bytes) }
  })
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'dadm_mesh_bundles_held',
    help: 'Bundles held for forwarding (custody or spray copies)',
    registers,
    collect () { this.set(bundles.store.outboundCount) }
  })
  const delivered = new Counter({ name: 'dadm_mesh_bundles_delivered_total', help: 'Bundles delivered to this node (its inbox), since start', registers })
  bundles.addEventListener('bundle:delivered', () => { delivered.inc() })
  // eslint-disable-next-line no-new
  new Counter({
    name: 'dadm_mesh_bundle_store_expired_total',
    help: 'Store entries removed because their lifetime ended (held bundles, fragments, inbox entries, seen ids), since start',
    registers,
    collect () { this.reset(); this.inc(bundles.agent.expiredCount) }
  })
  // eslint-disable-next-line no-new
  new Counter({
    name: 'dadm_mesh_bundle_store_evicted_total',
    help: 'Forward-only copies evicted to make room, since start',
    registers,
    collect () { this.reset(); this.inc(bundles.store.evicted) }
  })

  // eslint-disable-next-line no-new
  new Gauge({
    name: 'dadm_mesh_certificate_expiry_timestamp_seconds',
    help: 'notAfter of the certificate the node presents, Unix seconds',
    registers,
    collect () { this.set(lifecycle.credentials.current().leaf.notAfter / 1000) }
  })
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'dadm_mesh_rotation_next_attempt_timestamp_seconds',
    help: 'When the next certificate rotation attempt is due, Unix seconds (+Inf once only a new enrollment helps)',
    registers,
    collect () { this.set(lifecycle.rotation.nextAttemptAt / 1000) }
  })
  const rotated = new Counter({ name: 'dadm_mesh_rotations_total', help: 'Certificate rotations completed, since start', registers })
  const failed = new Counter({ name: 'dadm_mesh_rotation_failures_total', help: 'Certificate rotation attempts that failed, by code', labelNames: ['code'], registers })
  lifecycle.rotation.addEventListener('rotated', () => { rotated.inc() })
  lifecycle.rotation.addEventListener('rotation-failed', (e) => { failed.inc({ code: boundedLabel(e.detail.code) }) })
}
