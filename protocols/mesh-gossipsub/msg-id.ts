import { createHash, hash } from 'node:crypto'
import { TOPIC as ANOMALY_TOPIC } from '../anomaly-gossip/constants.ts'
import { contentDigest, peekEnvelope } from '../anomaly-gossip/envelope-memo.ts'
import { EnvelopeError } from '../anomaly-gossip/errors.ts'
import { TOPIC as CRL_TOPIC } from '../crl-gossip/constants.ts'
import type { Message } from '@libp2p/gossipsub'
import type { Hash } from 'node:crypto'

/**
 * gossipsub's message id for every mesh topic (`msgIdFn` is one function for all topics).
 *
 * What gossipsub does with it, read in @libp2p/gossipsub 17.1.1 `validateReceivedMessage`: after
 * the StrictSign signature check it computes msgIdFn, and puts the id into its duplicate cache
 * (seenTTL, 2 min) BEFORE any topic validator runs, and keeps it there after a Reject. So whoever
 * first sends a given id owns it for two minutes: if the id were the bare `message_id`, any
 * authenticated member could send a forged envelope under a victim's (predictable) message_id,
 * get it rejected, and thereby make every node drop the genuine one as a duplicate. The same hole
 * was closed in Optimism (PR 21804) and Aztec (PR 24214) by binding the id to what an attacker
 * cannot choose.
 *
 * So, for `/dadm-mesh/anomaly/1`, the id is SHA-256 over (topic, message_id, signer PeerId,
 * content digest), the digest being `envelopeDigest` (message_id, origin, timestamp, expiry and the
 * payload bytes; not the chain):
 * - copies of one message by one origin share an id, whatever the gossipsub seqno, the signature,
 * the envelope encoding or the chain it carries. A re-signed or re-encoded copy is therefore a
 * gossipsub duplicate: dropped without validation and without penalty for two minutes, and after
 * that caught by the validator's seen index as REPLAYED;
 * - a second VERSION (same message_id, other content) gets an id of its own, so gossipsub hands it
 * to the validator instead of dropping it as a duplicate of the first: the validator sees the
 * conflict (CONFLICTING_PAYLOAD) and the service reports the origin as an equivocator. With the
 * bare message_id in the id, an origin could show different peers different content under one
 * id, and every node would silently keep whichever it heard first;
 * - only the holder of the origin's PeerId key can produce an id in the origin's namespace (the
 * signature is checked before msgIdFn runs), so a forgery gets an id of its own and is rejected
 * alone.
 * An envelope that does not decode gets a content hash, so each piece of junk is validated (and
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

/** The msgIdFn to give gossipsub (see above). Never throws: a throw would skip peer scoring. */
export function meshMsgIdFn (msg: Message): Uint8Array {
  if (msg.topic === ANOMALY_TOPIC && msg.type === 'signed') {
    const envelope = peekEnvelope(msg.data)
    if (!(envelope instanceof EnvelopeError)) { return anomalyMsgId(envelope.message_id, msg.from.toString(), contentDigest(envelope)) }
  }
  return framed(msg.topic, msg.topic === CRL_TOPIC ? 'crl' : 'data').update(msg.data).digest().subarray(0, ID_BYTES)
}

/** The anomaly message id an envelope with content digest `digest` (hex `envelopeDigest`) gets from a given signer. */
export function anomalyMsgId (messageId: string, signerPeerId: string, digest: string): Uint8Array {
  // message_id, PeerId text and a hex digest cannot hold a newline (checked alphabets): the framing
  // is unambiguous. One-shot hash: this runs for every anomaly message, and createHash costs more
  // than the hashing.
  return hash('sha256', `${ANOMALY_ID_PREFIX}${messageId}\n${signerPeerId}\n${digest}`, 'buffer').subarray(0, ID_BYTES)
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
 * signature, key), computed before the StrictSign check. gossipsub fills its fast cache only
 * after a message passed that check, and a later copy with the same key is a duplicate without a
 * second signature check. The key covers every byte the signature covers and the signature
 * itself, so only a byte-identical copy of a message that verified can match: relays forward
 * the original unchanged, so every copy after the first costs a hash instead of an Ed25519
 * verification (at mesh degree 8, most of what a node receives). Never throws.
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
const ANOMALY_ID_PREFIX = prefix(ANOMALY_TOPIC, 'id')
