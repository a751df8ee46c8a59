import { decode, Tokenizer, Type } from 'cborg'
import type { Token } from 'cborg'

/**
 * Strict CBOR decoding with a nesting and item budget enforced WHILE decoding, in one pass.
 * cborg has no depth limit of its own and decodes recursively: 4 KiB of nested one-element
 * arrays overflow the stack (a caught RangeError, but about 1 ms of work per message, ten
 * signature checks' worth). Counting in the tokenizer refuses such input after a few bytes, and
 * costs a fraction of a separate scan (gossip messages are decoded on the hot path).
 * Shared by every protocol codec (gossip, auth, attest, bundle, revoke, notices).
 */

export interface CborLimits {
  /** Containers (arrays, maps) that may be open at once; the top-level value counts as one. */
  maxDepth: number
  /** Tokens (every head: containers, keys, values) at most. */
  maxTokens: number
}

/** cborg's options for strict decoding; exported for readers that walk cborg's Tokenizer themselves. */
export const DECODE_OPTIONS = {
  strict: true,
  allowIndefinite: false,
  allowUndefined: false,
  allowInfinity: false,
  allowNaN: false,
  allowBigInt: false,
  rejectDuplicateMapKeys: true,
  useMaps: false
}

const MAJOR_ARRAY = Type.array.major
const MAJOR_MAP = Type.map.major
const MAJOR_TAG = Type.tag.major

class BoundedTokenizer {
  private readonly inner: Tokenizer
  private readonly limits: CborLimits
  /** Items still expected by each open container (maps count keys and values). */
  private readonly open: number[] = []
  private tokens = 0

  constructor (bytes: Uint8Array, limits: CborLimits) {
    this.inner = new Tokenizer(bytes, DECODE_OPTIONS)
    this.limits = limits
  }

  done (): boolean { return this.inner.done() }
  pos (): number { return this.inner.pos() }

  next (): Token {
    if (++this.tokens > this.limits.maxTokens) { throw new Error('too many items') }
    const token = this.inner.next()
    const open = this.open
    if (open.length > 0) { open[open.length - 1]-- }
    // Compared by major type number: this runs once per token of every gossip message.
    const major = token.type.major
    if (major === MAJOR_ARRAY || major === MAJOR_MAP) {
      const items = major === MAJOR_MAP ? token.value * 2 : token.value
      if (items > 0) {
        open.push(items)
        if (open.length > this.limits.maxDepth) { throw new Error('nested too deep') }
      }
    } else if (major === MAJOR_TAG) {
      throw new Error('tags are not used')
    }
    while (open.length > 0 && open[open.length - 1] === 0) { open.pop() }
    return token
  }
}

/** Decodes strict CBOR (minimal lengths, no indefinite lengths, no duplicate keys, no tags) within `limits`; throws Error. */
export function decodeBounded (bytes: Uint8Array, limits: CborLimits): unknown {
  return decode(bytes, { ...DECODE_OPTIONS, tokenizer: new BoundedTokenizer(bytes, limits) })
}
