import { randomUUID } from 'node:crypto'
import { parseCertificate } from '../../src/pki/certificate.ts'
import { nodeIdentity } from '../../src/pki/node-identity.ts'
import { encodeEnvelope, encodePayload } from './codec.ts'
import { DEFAULT_TTL_MS, MAX_TTL_MS, MIN_TTL_MS, WIRE_VERSION } from './constants.ts'
import { AnomalyGossipError } from './errors.ts'
import { newEpoch, signEnvelope } from './gossip-key.ts'
import type { AnomalyEnvelope, AnomalyPayload } from './codec.ts'
import type { IdentitySigner } from '../../src/pki/peer-verifier.ts'

/**
 * A complete envelope signed away from any running node (`dadm-mesh gossip sign`): a member
 * (a fusion service, an agent with its own certificate) signs with its identity key and hands
 * the bytes to any node, which checks and forwards them unchanged (pre-signed publication). A
 * one-off gossip key: the identity key signs its delegation, then it signs this one envelope.
 */

export interface OfflineSignInit {
  /** The signer's chain, leaf first, without the root (it becomes `origin_cert`). */
  chain: Uint8Array[]
  /** The leaf's identity key. */
  signer: IdentitySigner
  /** Lifetime, ms. @default DEFAULT_TTL_MS (1 h) */
  ttlMs?: number
}

/** Signs `payload` as the leaf's node_id at `now` (ms); returns the envelope and its bytes. Throws AnomalyGossipError or EnvelopeError. */
export async function signAnomalyOffline (now: number, payload: AnomalyPayload, init: OfflineSignInit): Promise<{ envelope: AnomalyEnvelope, bytes: Uint8Array }> {
  const ttl = init.ttlMs ?? DEFAULT_TTL_MS
  if (!Number.isSafeInteger(ttl) || ttl < MIN_TTL_MS || ttl > MAX_TTL_MS) { throw new AnomalyGossipError('INVALID_TTL', `ttl must be between ${MIN_TTL_MS} and ${MAX_TTL_MS} ms`) }
  if (init.chain.length === 0) { throw new AnomalyGossipError('NO_CREDENTIALS', 'no certificate chain to sign under') }
  let leaf
  let nodeId
  try {
    leaf = parseCertificate(init.chain[0])
    nodeId = nodeIdentity(leaf).nodeId
  } catch (err) {
    throw new AnomalyGossipError('NO_CREDENTIALS', 'the leaf certificate carries no mesh identity', { cause: err })
  }
  if (now >= leaf.notAfter) { throw new AnomalyGossipError('NO_CREDENTIALS', 'the leaf certificate has expired') }
  // The delegation covers this envelope's timestamp; the envelope may outlive it (its lifetime
  // is checked against the chain at receipt, the delegation against the timestamp).
  const epoch = await newEpoch(now, { nodeId, notAfter: leaf.notAfter, signer: init.signer }, ttl)
  const envelope = signEnvelope({
    v: WIRE_VERSION,
    message_id: `${nodeId}:${randomUUID()}`,
    origin: nodeId,
    timestamp: now,
    expiry: now + ttl,
    payload: encodePayload(payload),
    origin_cert: init.chain
  }, epoch)
  return { envelope, bytes: encodeEnvelope(envelope) }
}
