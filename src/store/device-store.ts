import { SYNC } from './mesh-store.ts'
import type { MeshStore, Sublevel } from './mesh-store.ts'

/**
 * The TPM a node_id enrolled with: its EK (and the AK created under it), as the CA verified them
 * in the enrollment quote. Later rotations and mesh attestation must come from the same TPM, so
 * the same node_id from another device is refused: a copied key alone cannot stand in for the node. Keyed by node_id.
 */
export interface NodeDeviceRecord {
  nodeId: string
  /** SPKI DER of the EK, base64; absent when the policy did not ask for the EK. */
  ekSpki?: string
  /** SPKI DER of the AK, base64. */
  akSpki: string
  /** TPM Names (hex), for logs and cross-checks with tpm2-tools. */
  ekName?: string
  akName?: string
  /** When the pin was recorded (ms) and the serial of the certificate it came with. */
  pinnedAt: number
  serialHex: string
}

/** The node-device pins of the CA, in the `ca-node-devices` sublevel. */
export class DeviceStore {
  readonly #devices: Sublevel<NodeDeviceRecord>

  constructor (store: MeshStore) {
    this.#devices = store.sublevel<NodeDeviceRecord>('ca-node-devices')
  }

  /** The pinned device of `nodeId`, if it enrolled with a TPM. */
  async get (nodeId: string): Promise<NodeDeviceRecord | undefined> {
    return this.#devices.get(nodeId)
  }

  /** Records the device of `nodeId` (sync write: losing it would let another TPM take the node_id). */
  async pin (rec: NodeDeviceRecord): Promise<void> {
    await this.#devices.put(rec.nodeId, rec, SYNC)
  }

  /** Forgets the device of `nodeId` (an operator replaced the hardware); true when there was one. */
  async forget (nodeId: string): Promise<boolean> {
    const had = await this.#devices.has(nodeId)
    if (had) { await this.#devices.del(nodeId, SYNC) }
    return had
  }
}
