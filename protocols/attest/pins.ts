import type { DevicePin } from './verify-attest.ts'

/**
 * Where a verifier finds the TPM a node_id must attest with. The CA's own mesh node reads the
 * pins the CA recorded at enrollment (`CaService.deviceOf`); other nodes learn a peer's TPM on
 * its first good attestation and hold it to that (trust on first use, in memory).
 */
export interface DevicePinStore {
  get(nodeId: string): Promise<DevicePin | undefined> | DevicePin | undefined
  /** Records the TPM of a first good attestation; stores that only read (the CA's) omit it. */
  set?(nodeId: string, pin: DevicePin): Promise<void> | void
}

/** In-memory trust-on-first-use pins, bounded (oldest first). */
export class MemoryDevicePins implements DevicePinStore {
  readonly #pins = new Map<string, DevicePin>()
  readonly #max: number

  constructor (max = 10_000) {
    this.#max = max
  }

  get (nodeId: string): DevicePin | undefined {
    return this.#pins.get(nodeId)
  }

  set (nodeId: string, pin: DevicePin): void {
    if (this.#pins.has(nodeId)) { return }
    if (this.#pins.size >= this.#max) {
      const oldest = this.#pins.keys().next().value
      if (oldest != null) { this.#pins.delete(oldest) }
    }
    this.#pins.set(nodeId, pin)
  }
}
