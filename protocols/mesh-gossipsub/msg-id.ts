import { createHash, hash } from 'node:crypto'
import { TOPIC as ANOMALY_TOPIC } from '../anomaly-gossip/constants.ts'
import { contentDigest, peekEnvelope } from '../anomaly-gossip/envelope-memo.ts'
import { EnvelopeError } from '../anomaly-gossip/errors.ts'
import { TOPIC as CRL_TOPIC } from '../crl-gossip/constants.ts'
import type { AnomalyEnvelope } from '../anomaly-gossip/codec.ts'
import type { Message } from '@libp2p/gossipsub'
import type { Hash } from 'node:crypto'

/**
 * gossipsub's message id for every mesh topic (`msgIdFn` is one function for all topics).
 *
 * What gossipsub does with it, read in @libp2p/gossipsub 17.1.1 `validateReceivedMessage`: after
 * its signature-policy check it computes msgIdFn, and puts the id into its duplicate cache
 * (seenTTL, 2 min) BEFORE any topic validator runs, and keeps it there after a Reject. So whoever
 * first sends a given id owns it for two minutes: if the id were the bare `message_id`, any
 * authenticated member could send a forged envelope under a victim's (predictable) message_id,
 * get it rejected, and thereby make every node drop the genuine one as a duplicate. The same hole
 * was closed in Optimism (PR 21804) and Aztec (PR 24214) by binding the id to what an attacker
 * cannot choose.
 *
 * So, for `/dadm-mesh/anomaly/1`, the id is SHA-256 over (domain, topic, content digest, origin
 * signature), the digest being `envelopeDigest` (message_id, origin, timestamp, expiry and the
 * payload bytes; not the chain nor the delegation), which msgIdFn and the validator share. gossipsub runs with StrictNoSign, so the id
 * comes from the envelope alone and every node computes the same one for the same message,
 * whoever injected it (the origin, or a node it handed a pre-signed envelope to):
 * - copies of one message share an id, whatever chain they carry. A copy with another chain is
 * therefore a gossipsub duplicate: dropped without validation and without penalty for two
 * minutes, and after that caught by the validator's seen index as REPLAYED;
 * - a second VERSION (same message_id, other content) gets an id of its own, so gossipsub hands it
 * to the validator instead of dropping it as a duplicate of the first: the validator sees the
 * conflict (CONFLICTING_PAYLOAD) and the service reports the origin as an equivocator;
 * - the content id is given only to an envelope whose origin proof verified (`originProven`, the
 * anomaly service's cached check of chain, delegation and signature); anything else gets a hash
 * of its bytes. Otherwise a member that saw a genuine envelope could race a copy with the same
 * signature and a broken chain or delegation to its neighbours: rejected, but its id would make
 * them drop the genuine message as a duplicate for two minutes. Gossip key signatures are
 * Ed25519 (not malleable), so nobody but the origin makes a second valid signature of one content.
 * An envelope that does not decode gets a content hash too, so each piece of junk is validated (and
 * scored) on its own instead of colliding with the next.
 *
 * For `/dadm-mesh/crl/1` the id is a hash of the message bytes: the same CRL from the CA and from
 * every node that re-gossips it is one message, and a forged CRL can never squat the id of the
 * genuine one (a CRL-number id could be squatted by forging the next number).
 *
 * The id is 20 bytes (as in most gossipsub deployments): IHAVE/IWANT carry thousands of ids.
 */

const DOMAIN = 'dadm-mesh/msgid/1'
const ID_BYTES = 20

/** Whether an envelope's origin proof verifies now (cached by the caller); see above. */
export type OriginProof = (envelope: AnomalyEnvelope) => boolean

/** The msgIdFn to give gossipsub, checking the origin proof before giving the content id. Never throws. */
export function meshMsgIdFnWith (originProven?: OriginProof): (msg: Message) => Uint8Array {
  return (msg) => {
    if (msg.topic === ANOMALY_TOPIC) {
      const envelope = peekEnvelope(msg.data)
      if (!(envelope instanceof EnvelopeError) && (originProven == null || safely(originProven, envelope))) {
        return anomalyMsgId(contentDigest(envelope), envelope.sig)
      }
    }
    return framed(msg.topic, msg.topic === CRL_TOPIC ? 'crl' : 'data').update(msg.data).digest().subarray(0, ID_BYTES)
  }
}

/** msgIdFn without the origin proof: for tools and tests that run no anomaly service. */
export const meshMsgIdFn = meshMsgIdFnWith()

/** The anomaly message id of an envelope with content digest `digest` (hex `envelopeDigest`) and origin signature `sig`. */
export function anomalyMsgId (digest: string, sig: Uint8Array): Uint8Array {
  // The digest already covers message_id, origin, timestamp, expiry and payload, so the id hashes
  // only the domain, the topic, the digest and the signature, at fixed offsets (a 64-character
  // hex digest, a 64-byte Ed25519 signature) in one buffer filled in place: no allocation and no
  // text conversion of the signature. Synchronous, so the buffer is never shared between calls.
  if (digest.length !== DIGEST_HEX_LENGTH || sig.byteLength !== SIG_LENGTH) { throw new Error('anomalyMsgId takes a hex SHA-256 digest and an Ed25519 signature') }
  ID_INPUT.write(digest, ANOMALY_ID_PREFIX.byteLength, DIGEST_HEX_LENGTH, 'latin1')
  ID_INPUT.set(sig, ANOMALY_ID_PREFIX.byteLength + DIGEST_HEX_LENGTH)
  return hash('sha256', ID_INPUT, 'buffer').subarray(0, ID_BYTES)
}

function safely (proof: OriginProof, envelope: AnomalyEnvelope): boolean {
  try {
    return proof(envelope)
  } catch {
    return false
  }
}

/** A hash started with the domain, the topic (length-prefixed: topics are arbitrary text) and the kind. */
function framed (topic: string, kind: string): Hash {
  return createHash('sha256').update(prefix(topic, kind))
}

function prefix (topic: string, kind: string): string {
  return `${DOMAIN}\n${topic.length}:${topic}\n${kind}\n`
}

/**
 * gossipsub's `fastMsgIdFn`: a key for the RAW message as received (topic, from, seqno, data,
 * signature, key), computed before anything else. gossipsub maps it to the msgIdFn id once that
 * is computed (and so, for an anomaly envelope, once its origin proof was checked), and a later
 * copy with the same key is a duplicate without a second check. With StrictNoSign the message is
 * the topic and the data, and relays forward the original unchanged, so every copy after the
 * first costs a hash instead of a signature verification (at mesh degree 8, most of what a node
 * receives). Never throws.
 */
export function meshFastMsgIdFn (msg: { topic?: string, from?: Uint8Array, seqno?: Uint8Array, data?: Uint8Array, signature?: Uint8Array, key?: Uint8Array }): string {
  const h = createHash('sha256').update(FAST_DOMAIN)
  for (const part of [msg.from, msg.seqno, msg.data, msg.signature, msg.key]) {
    const len = Buffer.allocUnsafe(4)
    len.writeUInt32BE(part?.byteLength ?? 0xffffffff)
    h.update(len)
    if (part != null) { h.update(part) }
  }
  return h.update(msg.topic ?? '').digest('base64')
}

const FAST_DOMAIN = `${DOMAIN}\nfast\n`
/** Built once: the anomaly id is computed for every anomaly message. */
const ANOMALY_ID_PREFIX = Buffer.from(prefix(ANOMALY_TOPIC, 'id'))
/** Length of a hex SHA-256 digest. */
const DIGEST_HEX_LENGTH = 64
/** Length of an Ed25519 signature (the decoder refuses any other). */
const SIG_LENGTH = 64
/** The anomaly id's hash input: the prefix once, then each id's digest and signature written over the rest. */
const ID_INPUT = Buffer.alloc(ANOMALY_ID_PREFIX.byteLength + DIGEST_HEX_LENGTH + SIG_LENGTH)
ANOMALY_ID_PREFIX.copy(ID_INPUT, 0)
