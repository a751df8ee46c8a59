import { generateKeyPairSync } from 'node:crypto'
import { DEFAULT_EPOCH_MS, MAX_TTL_MS } from './constants.ts'
import { delegationSigningInput, rawEd25519PublicKey, signOrigin } from './origin-proof.ts'
import type { AnomalyEnvelope, UnsignedEnvelope } from './codec.ts'
import type { GossipDelegation } from './origin-proof.ts'
import type { IdentitySigner } from '../../src/pki/peer-verifier.ts'
import type { KeyObject } from 'node:crypto'

/**
 * The per-epoch gossip key of a publishing node. The identity key (possibly in a TPM or HSM)
 * signs one delegation per epoch; the in-memory Ed25519 key signs every envelope of the epoch.
 * A new epoch starts when the current delegation is about to end or the leaf certificate changed
 * (a rotation brings a new identity key, under which the old delegation no longer verifies).
 * The private key never leaves memory: a restart starts a new epoch.
 */

/** One epoch: the gossip key and the identity key's delegation to it. */
export interface GossipEpoch {
  privateKey: KeyObject
  delegation: GossipDelegation
}

/** Who signs the delegation: the origin's node_id, its leaf's validity, its identity key. */
export interface EpochIdentity {
  nodeId: string
  /** The leaf's notAfter, ms: no delegation outlives the certificate. */
  notAfter: number
  /** The leaf DER: a new one starts a new epoch. */
  leaf: Uint8Array
  signer: IdentitySigner
}

/** A delegation this close to its end is renewed before the next envelope (an envelope's timestamp must lie inside it). */
const RENEW_BEFORE_MS = 60 * 1000

/**
 * Makes an epoch at `now`: a fresh Ed25519 key and the identity key's delegation for timestamps
 * from `now - MAX_TTL_MS` (a held envelope may carry an earlier timestamp; none older can still
 * be alive) to `min(now + epochMs, notAfter)`.
 */
export async function newEpoch (now: number, identity: Omit<EpochIdentity, 'leaf'>, epochMs = DEFAULT_EPOCH_MS): Promise<GossipEpoch> {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  const unsigned = { key: rawEd25519PublicKey(publicKey), nbf: Math.max(0, now - MAX_TTL_MS), exp: Math.min(now + epochMs, identity.notAfter) }
  const sig = await identity.signer.sign(delegationSigningInput(identity.nodeId, unsigned))
  return { privateKey, delegation: { ...unsigned, sig } }
}

/** Signs an envelope with an epoch's key and attaches the epoch's delegation. */
export function signEnvelope (unsigned: Omit<UnsignedEnvelope, 'delegation'>, epoch: GossipEpoch): AnomalyEnvelope {
  const sig = signOrigin(epoch.privateKey, unsigned)
  return { ...unsigned, delegation: epoch.delegation, sig }
}

/** The node's current epoch, renewed on demand; concurrent callers share one identity signature. */
export class GossipKeyEpochs {
  readonly #epochMs: number
  #current?: { leaf: Uint8Array, epoch: GossipEpoch }
  #pending?: { leaf: Uint8Array, epoch: Promise<GossipEpoch> }
  /** Identity-key signatures made (one per epoch): what a TPM or HSM was asked for. */
  identitySignatures = 0

  constructor (epochMs = DEFAULT_EPOCH_MS) {
    this.#epochMs = epochMs
  }

  /** The epoch to sign an envelope timestamped `at` with, at `now`. */
  async current (now: number, at: number, identity: EpochIdentity): Promise<GossipEpoch> {
    const c = this.#current
    if (c != null && c.leaf === identity.leaf && c.epoch.delegation.exp - now > RENEW_BEFORE_MS && at >= c.epoch.delegation.nbf) {
      return c.epoch
    }
    if (this.#pending?.leaf !== identity.leaf) {
      const leaf = identity.leaf
      const epoch = newEpoch(now, identity, this.#epochMs)
      this.#pending = { leaf, epoch }
      this.identitySignatures++
      void epoch.then((e) => { this.#current = { leaf, epoch: e } }, () => {}).finally(() => {
        if (this.#pending?.epoch === epoch) { this.#pending = undefined }
      })
    }
    return this.#pending.epoch
  }
}
