import { ed25519PublicKey, verifyDelegationSignature } from './origin-proof.ts'
import type { GossipDelegation } from './origin-proof.ts'
import type { Certificate } from '../../src/pki/certificate.ts'
import type { KeyObject } from 'node:crypto'

/**
 * Delegations whose identity signature verified, with the imported gossip key. An origin signs
 * one delegation per epoch and puts it in every envelope of that epoch, so after the first
 * envelope of an epoch a node pays a Map lookup instead of an ECDSA verification and a key
 * import: the per-message cost is then the one Ed25519 verification of the envelope.
 *
 * An entry holds everything the verification depended on (the leaf, the origin, every delegation
 * field including its signature), and a hit compares all of it, so a hit means "this exact
 * delegation verified under this exact certificate". It is found by the delegation's signature
 * bytes (one per delegation, read in place as latin1 text), so a lookup builds no key from the
 * other fields. Time and revocation are not cached: the validator checks them on every message.
 * Bounded, least recently used first out.
 */

/** Verified delegations kept: one per origin and epoch; 4096 covers a mesh of thousands through a key rotation. */
export const DEFAULT_DELEGATION_CACHE_SIZE = 4096

interface Verified {
  fingerprint: string
  origin: string
  nbf: number
  exp: number
  /** The raw gossip key, our own copy. */
  raw: Buffer
  key: KeyObject
}

export class DelegationCache {
  readonly #max: number
  readonly #entries = new Map<string, Verified>()

  /** `max` 0 caches nothing (every delegation is verified on every message: a benchmark's baseline). */
  constructor (max = DEFAULT_DELEGATION_CACHE_SIZE) {
    this.#max = max
  }

  get size (): number {
    return this.#entries.size
  }

  /** The gossip key of a delegation the leaf's identity key signed for `origin`; undefined when it did not. */
  verify (leaf: Certificate, origin: string, d: GossipDelegation): KeyObject | undefined {
    const id = view(d.sig).toString('latin1')
    const hit = this.#entries.get(id)
    if (hit != null && hit.fingerprint === leaf.fingerprint && hit.origin === origin && hit.nbf === d.nbf && hit.exp === d.exp && hit.raw.equals(d.key)) {
      this.#entries.delete(id)
      this.#entries.set(id, hit)
      return hit.key
    }
    // A miss, or the same signature bytes under other fields: verified in full; only a success is kept.
    const key = ed25519PublicKey(d.key)
    if (key == null || !verifyDelegationSignature(leaf.spki, origin, d)) { return undefined }
    if (this.#max <= 0) { return key }
    if (hit == null && this.#entries.size >= this.#max) {
      const oldest = this.#entries.keys().next()
      if (oldest.done !== true) { this.#entries.delete(oldest.value) }
    }
    this.#entries.delete(id)
    this.#entries.set(id, { fingerprint: leaf.fingerprint, origin, nbf: d.nbf, exp: d.exp, raw: Buffer.from(d.key), key })
    return key
  }
}

/** The bytes as a Buffer over the same memory (no copy). */
function view (bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}
