import { randomFillSync } from 'node:crypto'
import { NONCE_BYTES } from './constants.ts'

/**
 * Fresh auth nonces, drawn from the CSPRNG in batches. A `randomBytes(32)` per exchange is a cold
 * call into OpenSSL's DRBG on the dial's critical path, many times the cost of the same call in
 * a warm loop. Each nonce is a copy of unused bytes of the batch, handed out once; the batch is
 * refilled when spent.
 */
const BATCH = 64
const pool = new Uint8Array(NONCE_BYTES * BATCH)
let next = pool.byteLength

export function freshNonce (): Uint8Array {
  if (next >= pool.byteLength) {
    randomFillSync(pool)
    next = 0
  }
  const nonce = pool.slice(next, next + NONCE_BYTES)
  // Spent bytes are wiped, so no later read of the pool can see a nonce already handed out.
  pool.fill(0, next, next + NONCE_BYTES)
  next += NONCE_BYTES
  return nonce
}
