import { decode, encode } from 'cborg'

/** Longest simulation id we accept back from the wire. */
const MAX_ID = 64

/**
 * The baseline's message body: CBOR { sim: id, pad: bytes } padded to `size` bytes in all, so
 * plain gossipsub carries as many bytes per message as the mesh's envelope does.
 */
export function encodeSimPayload (simId: string, size: number): Uint8Array {
  const head = encode({ sim: simId, pad: new Uint8Array(0) }).byteLength
  // CBOR byte-string headers grow by 1-4 bytes with length; aim a few bytes low.
  const pad = Math.max(0, size - head - 4)
  return encode({ sim: simId, pad: new Uint8Array(pad) })
}

/** The simulation id in a baseline message, or undefined. */
export function decodeSimPayload (data: Uint8Array): string | undefined {
  try {
    const v = decode(data) as { sim?: unknown }
    return typeof v?.sim === 'string' && v.sim.length <= MAX_ID ? v.sim : undefined
  } catch {
    return undefined
  }
}
