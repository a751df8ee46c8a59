import { BcbError } from './bcb-errors.ts'
import { decodeAsb } from './bpsec.ts'
import { BLOCK_TYPE } from './bpv7.ts'
import type { AbstractSecurityBlock } from './bpsec.ts'
import type { CanonicalBlock, DecodedBundle } from './bpv7.ts'

/**
 * The RFC 9172 rules on what a BCB may encrypt (§3.8, §3.9, §5.2), checked when one is added and
 * again before one is opened, so that a bundle we would not build is not opened either.
 *
 * One reading is ours. §3.8 says a BCB must not target a BIB "unless it shares a security target
 * with that BIB", which read per block forces the BIB and its targets into one BCB, that is one
 * key and one IV for several plaintexts: with AES-GCM that reuse leaks the XOR of the plaintexts
 * and lets anyone who sees it forge tags. (RFC 9173's own example A.4 does exactly that.) We read
 * the rule over the whole bundle: a BIB may be encrypted only if every block it covers is
 * encrypted too, by this BCB or another. Our BCBs then hold one target each, each with a fresh IV,
 * and single-BCB layouts such as A.4 still open.
 */

/** Block processing control flags (RFC 9171 §4.2.4) that §3.8 constrains on a BCB. */
const BLOCK_FLAG = { REPLICATE_IN_FRAGMENTS: 0x01, DISCARD_IF_UNPROCESSED: 0x10 } as const

/** A BCB as found in a bundle, its ASB decoded. */
export interface BcbView { block: CanonicalBlock, asb: AbstractSecurityBlock }

function violation (msg: string): BcbError {
  return new BcbError('BCB_RULE_VIOLATION', msg)
}

/** Every BCB of the bundle with its ASB decoded (bounded: bpsec.ts decodes with limits). */
export function findBcbs (bundle: DecodedBundle): BcbView[] {
  return bundle.blocks.filter(b => b.type === BLOCK_TYPE.BCB).map(block => ({ block, asb: decodeAsb(block.data) }))
}

/** The flags a new BCB gets: replicated in every fragment (§3.8, for a payload target), never discarded alone. */
export const NEW_BCB_FLAGS = BLOCK_FLAG.REPLICATE_IN_FRAGMENTS

/**
 * The rules a node can check without keys, over every BCB of the bundle. Returns the set of
 * encrypted block numbers. Throws BCB_RULE_VIOLATION.
 */
export function checkBcbLayout (bundle: DecodedBundle, bcbs: BcbView[]): Set<number> {
  const byNumber = new Map(bundle.blocks.map(b => [b.number, b]))
  const encrypted = new Set<number>()
  for (const { block, asb } of bcbs) {
    if ((block.flags & BLOCK_FLAG.DISCARD_IF_UNPROCESSED) !== 0) { throw violation(`BCB ${block.number} may not be discarded on its own (§3.8)`) }
    for (const t of asb.targets) {
      if (t === 0) { throw violation('a BCB never encrypts the primary block (§3.8)') }
      const target = byNumber.get(t)
      if (target == null) { throw violation(`BCB target ${t} is not in the bundle`) }
      if (target.type === BLOCK_TYPE.BCB) { throw violation('a BCB never encrypts another BCB (§3.8)') }
      if (encrypted.has(t)) { throw violation(`block ${t} is encrypted twice (§3.2)`) }
      if (target.type === BLOCK_TYPE.PAYLOAD && (block.flags & BLOCK_FLAG.REPLICATE_IN_FRAGMENTS) === 0) {
        throw violation('a BCB over the payload must be replicated in every fragment (§3.8)')
      }
      encrypted.add(t)
    }
  }
  // A BIB left in clear must not cover an encrypted block: it would be an oracle on the plaintext,
  // and §3.9 requires such a BIB to be encrypted along with its target.
  for (const b of bundle.blocks) {
    if (b.type !== BLOCK_TYPE.BIB || encrypted.has(b.number)) { continue }
    for (const t of decodeAsb(b.data).targets) {
      if (encrypted.has(t)) { throw violation(`BIB ${b.number} covers encrypted block ${t} but is not encrypted itself (§3.9)`) }
    }
  }
  return encrypted
}

/** After decryption: an encrypted BIB may only have covered blocks that were encrypted too (§3.8, whole-bundle reading). */
export function checkOpenedBib (bibNumber: number, bib: AbstractSecurityBlock, encrypted: Set<number>): void {
  for (const t of bib.targets) {
    if (!encrypted.has(t)) { throw violation(`BIB ${bibNumber} was encrypted but block ${t}, which it covers, was not (§3.8)`) }
  }
}

/**
 * The full list of blocks to encrypt when the caller asks for `requested`: those, then every BIB
 * in clear that covers only blocks among them (§3.9 says it must be encrypted too). A BIB that
 * covers some of them and some other block would have to be split (§3.9), which moves its results
 * into a new BIB whose security header differs; we refuse instead, and the caller may name every
 * block that BIB covers. Throws BCB_RULE_VIOLATION.
 */
export function planTargets (bundle: DecodedBundle, requested: number[], encrypted: Set<number>): number[] {
  if (bundle.primary.fragment != null) { throw violation('security blocks are never added to a fragment (§5.2)') }
  if (requested.length === 0) { throw violation('a BCB needs at least one target') }
  if (new Set(requested).size !== requested.length) { throw violation('a target is named twice') }
  const byNumber = new Map(bundle.blocks.map(b => [b.number, b]))
  const chosen = new Set<number>()
  for (const t of requested) {
    if (t === 0) { throw violation('a BCB never encrypts the primary block (§3.8)') }
    const block = byNumber.get(t)
    if (block == null) { throw violation(`block ${t} is not in the bundle`) }
    if (block.type === BLOCK_TYPE.BCB) { throw violation('a BCB never encrypts another BCB (§3.8)') }
    if (block.type === BLOCK_TYPE.BIB) { throw violation('a BIB is encrypted with the blocks it covers, never alone (§3.8); name those blocks') }
    if (encrypted.has(t)) { throw violation(`block ${t} is already encrypted (§3.2)`) }
    chosen.add(t)
  }
  const bibs: number[] = []
  for (const b of bundle.blocks) {
    if (b.type !== BLOCK_TYPE.BIB || encrypted.has(b.number)) { continue }
    const covered = decodeAsb(b.data).targets
    const inside = covered.filter(t => chosen.has(t)).length
    if (inside === 0) { continue }
    if (inside < covered.length) {
      throw violation(`BIB ${b.number} also covers blocks not being encrypted; name all of ${covered.join(', ')} (a §3.9 split is not supported)`)
    }
    bibs.push(b.number)
  }
  return [...requested, ...bibs]
}
