import { pino } from 'pino'
import { startRuntimeDtn } from '../../src/daemon/runtime/dtn.ts'
import { parseCertificate } from '../../src/pki/certificate.ts'
import type { IdentitySigner } from '../../protocols/auth/types.ts'
import type { MeshNode } from '../../src/node/mesh-node.ts'
import type { CarryStats } from '../../src/daemon/runtime/dtn-carry.ts'
import type { DtnIdentity } from '../../src/daemon/runtime/dtn.ts'
import type { ChainVerifier } from '../../src/pki/chain-verifier.ts'
import type { AnomalyRecord } from '../../src/store/anomaly-store.ts'
import type { MeshStore } from '../../src/store/mesh-store.ts'
import type { TrustMaterial } from '../pki/sim-pki.ts'
import type { DtnSpec } from '../scenario/dtn-spec.ts'

/**
 * The DTN layer of one simulated mesh node (scenario option `dtn`): exactly what a node
 * process runs, `startRuntimeDtn` from src/daemon/runtime/dtn.ts: a BundleStore on the node's own
 * sublevel of the shard's LevelDB (beside its anomaly store), a BundleAgent signing with the
 * node's identity key and chain, the `/dadm-mesh/bundle/1.0.0` service on the node, and the
 * carrying of the anomaly signatures it publishes in broadcast bundles (dtn-carry.ts). Nothing
 * is reimplemented here; this file only supplies what a NODEDIR would (identity, trust) and
 * follows the node's stops and starts.
 *
 * There is no CrlManager in a simulated node (its CRLs arrive by gossip and push into its
 * ChainVerifier): bundles from revoked sources are still refused on arrival, but held ones are
 * not purged when a CRL comes, which no scenario needs: none revokes and carries at once.
 */

/** How a delivered anomaly signature reached a node. */
export type DeliveryPath = 'gossip' | 'bundle'

/**
 * The path of a stored signature: gossipsub's validator stores what it accepts with the peer
 * that relayed it (`relay`), while a signature carried in a bundle is stored by dtn-carry.ts
 * with source 'gossip' and no relay (the bundle's last hop is not a gossip relay).
 */
export function deliveryPathOf (r: Pick<AnomalyRecord, 'source' | 'relay'>): DeliveryPath {
  return r.relay == null ? 'bundle' : 'gossip'
}

export interface SimDtnInit {
  node: MeshNode
  /** The node's MeshStore (its sublevel of the shard's LevelDB). */
  store: MeshStore
  nodeId: string
  /** The node's current pair, read per bundle (rotation changes it). */
  credentials(): { chain: Uint8Array[], signer: IdentitySigner }
  chainVerifier: ChainVerifier
  trust: TrustMaterial
  spec: Required<DtnSpec>
  now(): number
}

/** Quiet: the harness counts from events, not logs (SIM_DTN_LOG=info shows what a node process would log). */
const silent = pino({ level: process.env.SIM_DTN_LOG ?? 'silent' })

/** Starts and stops a node's DTN with the node, as a node process's runtime does. */
export class SimDtn {
  readonly #init: SimDtnInit
  readonly #identity: DtnIdentity
  #running?: Awaited<ReturnType<typeof startRuntimeDtn>>
  /** Carry counters summed over the node's runs (a restart starts new ones). */
  readonly #past: CarryStats = { anomaliesSent: 0, crlsSent: 0, anomaliesAccepted: 0, crlsAccepted: 0, refused: 0 }

  constructor (init: SimDtnInit) {
    this.#init = init
    const roots = [parseCertificate(init.trust.root)]
    const intermediates = [parseCertificate(init.trust.issuing)]
    this.#identity = {
      nodeId: init.nodeId,
      get chain () { return init.credentials().chain },
      credentials: { get signer () { return init.credentials().signer } },
      chainVerifier: init.chainVerifier,
      roots,
      intermediates
    }
  }

  /** Opens the bundle store and starts the service and carrying; call before `node.start()`. */
  async start (): Promise<void> {
    if (this.#running != null) { return }
    this.#running = await startRuntimeDtn({
      node: this.#init.node,
      store: this.#init.store,
      dir: this.#identity,
      now: this.#init.now,
      log: silent,
      options: { tickMs: this.#init.spec.tickMs, carry: { policy: this.#init.spec.carry } }
    })
  }

  /** Stops the service and carrying and flushes the store (its records stay, as on disk). */
  async stop (): Promise<void> {
    const r = this.#running
    if (r == null) { return }
    this.#running = undefined
    for (const k of Object.keys(this.#past) as Array<keyof CarryStats>) { this.#past[k] += r.carry.stats[k] }
    await r.stop()
  }

  /** Carry counters so far (all runs of this node). */
  stats (): CarryStats {
    const now = this.#running?.carry.stats
    const out = { ...this.#past }
    if (now != null) { for (const k of Object.keys(out) as Array<keyof CarryStats>) { out[k] += now[k] } }
    return out
  }

  /** Bundles this node holds for forwarding now. */
  get held (): number {
    return this.#running?.bundles.store.outboundCount ?? 0
  }
}
