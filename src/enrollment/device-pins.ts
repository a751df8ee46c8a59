import { DeviceStore } from '../store/device-store.ts'
import { createLock } from '../util/lock.ts'
import { EnrollmentError } from './errors.ts'
import type { DeviceBinding } from './attestation.ts'
import type { CaStore } from '../store/ca-store.ts'
import type { NodeDeviceRecord } from '../store/device-store.ts'
import type { MeshStore } from '../store/mesh-store.ts'

const b64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64')

/**
 * The CA's pins of node_id -> TPM, so a stolen node_id cannot re-enroll from other hardware: recorded at the first attested enrollment (or
 * rotation), checked by every later one, readable by the CA's own mesh node for the attest
 * protocol, and forgotten only by an operator who replaced the hardware. Every change is audited.
 */
export class DevicePins {
  readonly #devices: DeviceStore
  readonly #audit: CaStore
  // First enrollments of one node_id from two TPMs at once: only one may pin.
  readonly #lock = createLock()

  constructor (store: MeshStore, audit: CaStore) {
    this.#devices = new DeviceStore(store)
    this.#audit = audit
  }

  /** The TPM pinned for `nodeId`, as verifiers take it. */
  async binding (nodeId: string): Promise<DeviceBinding | undefined> {
    const rec = await this.#devices.get(nodeId)
    if (rec == null) { return undefined }
    return {
      akSpki: new Uint8Array(Buffer.from(rec.akSpki, 'base64')),
      ...(rec.ekSpki != null ? { ekSpki: new Uint8Array(Buffer.from(rec.ekSpki, 'base64')) } : {}),
      ...(rec.akName != null ? { akName: new Uint8Array(Buffer.from(rec.akName, 'hex')) } : {}),
      ...(rec.ekName != null ? { ekName: new Uint8Array(Buffer.from(rec.ekName, 'hex')) } : {})
    }
  }

  /**
   * Pins `device` for `nodeId` unless a pin is there; a different pin throws
   * ATTESTATION_DEVICE_MISMATCH (the verifier checked against the pin it read, but two first
   * enrollments may race: re-checked here under the lock). Returns the record written, or
   * undefined when the same device was pinned already.
   */
  async pinFirst (nodeId: string, device: DeviceBinding, now: Date): Promise<NodeDeviceRecord | undefined> {
    return this.#lock.run(async () => {
      const current = await this.#devices.get(nodeId)
      if (current != null) {
        // [REJECT] another TPM holds this node_id
        if (current.akSpki !== b64(device.akSpki) || (current.ekSpki != null && (device.ekSpki == null || current.ekSpki !== b64(device.ekSpki)))) {
          throw new EnrollmentError('ATTESTATION_DEVICE_MISMATCH')
        }
        return undefined
      }
      const rec: NodeDeviceRecord = {
        nodeId,
        akSpki: b64(device.akSpki),
        ...(device.ekSpki != null ? { ekSpki: b64(device.ekSpki) } : {}),
        ...(device.ekName != null ? { ekName: Buffer.from(device.ekName).toString('hex') } : {}),
        ...(device.akName != null ? { akName: Buffer.from(device.akName).toString('hex') } : {}),
        pinnedAt: now.getTime(),
        serialHex: ''
      }
      await this.#devices.pin(rec)
      await this.#audit.appendAudit(now.getTime(), 'device-pin', { node_id: nodeId, ek_name: rec.ekName ?? null, ak_name: rec.akName ?? null })
      return rec
    })
  }

  /** Completes a fresh pin with the serial of the certificate it came with. */
  async noteSerial (rec: NodeDeviceRecord, serialHex: string): Promise<void> {
    await this.#devices.pin({ ...rec, serialHex })
  }

  /** Forgets the pin of `nodeId` (replaced hardware); true when there was one. */
  async forget (nodeId: string, now: Date): Promise<boolean> {
    return this.#lock.run(async () => {
      const had = await this.#devices.forget(nodeId)
      if (had) { await this.#audit.appendAudit(now.getTime(), 'device-forget', { node_id: nodeId }) }
      return had
    })
  }
}
