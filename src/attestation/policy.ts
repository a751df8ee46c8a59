import { createHash } from 'node:crypto'
import { AttestationError } from './errors.ts'
import { MAX_PCR_INDEX } from './evidence.ts'
import { TPM_HASHES } from './tpm-reader.ts'
import type { PcrValues } from './evidence.ts'
import type { PcrBank } from './tpm-reader.ts'

/**
 * The attestation policy: a JSON document the CA holds and distributes in the enrollment
 * config, so every verifier (the CA at enrollment, peers in the attest protocol) judges the
 * same way. Snake_case keys, as in ca.json.
 */
export interface AttestationPolicy {
  /** Accept `none` evidence (platforms without a TPM); the peer then counts as not attested. */
  accept_none: boolean
  /** The PCR bank quotes must cover. */
  pcr_bank: PcrBank
  /** PCRs every quote must cover, whatever their values. */
  required_pcrs: number[]
  /** Allowed values per PCR index (hex); a quoted PCR listed here must hold one of them. */
  pcr_values?: Record<string, string[]>
  /**
   * Golden measurement sets: the quoted PCRs must match every entry of at least one set.
   * Use this when values only make sense together (one firmware + bootloader build).
   */
  golden_sets?: Array<Record<string, string>>
  /** How long after the nonce was issued the evidence is still accepted. */
  max_evidence_age_seconds: number
  /**
   * Whether the AK must be shown to be a child of a known EK: the EK pinned for the node at
   * enrollment (later checks), or the EK the evidence carries at first enrollment (then pinned).
   */
  require_known_ek: boolean
  /** Refuse an AK that is not a fixedTPM restricted signing key, or sent only as an SPKI. */
  require_restricted_ak: boolean
  /** What a failed post-handshake attestation does to the peer. */
  on_failure: 'demote' | 'close'
  /** How often connected peers are attested again. */
  recheck_interval_seconds: number
  /**
   * Enforcement (seed §1, §6.3: only members with valid certificates and attestation, where
   * enforced, accept and re-forward). When true, a peer counts as a gossip, relay and bundle
   * member only once its attestation passed (pending peers are neither sent to nor heard), and,
   * unless `accept_none`, gossip and bundles whose origin certificate lacks the CA's
   * attested-device extension are refused (ORIGIN_NOT_ATTESTED).
   */
  enforce: boolean
  /** How long after auth a peer may stay pending before it is failed (`on_failure` applies). */
  pending_deadline_seconds: number
  /**
   * Consecutive transient answers (RATE_LIMITED, a reset or closed attest stream) after which the
   * peer is failed with that code. Each alone says nothing about the device, but a peer that
   * never answers must not stay a member (or pending) for ever by always being "busy".
   */
  max_transient_failures: number
}

/**
 * Defaults: a TPM is required, PCRs 0-7 (firmware, boot) are quoted from the SHA-256 bank,
 * evidence answers a nonce within 5 minutes (enrollment round trip plus a slow TPM), the EK is
 * pinned, failure demotes, and peers are checked hourly.
 */
export const DEFAULT_ATTESTATION_POLICY: Readonly<AttestationPolicy> = {
  accept_none: false,
  pcr_bank: 'sha256',
  required_pcrs: [0, 1, 2, 3, 4, 5, 6, 7],
  max_evidence_age_seconds: 300,
  require_known_ek: true,
  require_restricted_ak: true,
  on_failure: 'demote',
  recheck_interval_seconds: 3600,
  enforce: true,
  // Auth plus one quote: a swtpm quote takes ~50 ms, a hardware TPM a few seconds at worst;
  // 10 s also leaves room for the retries below (PENDING_RETRY_MS apart).
  pending_deadline_seconds: 10,
  // A prover answers one verifier at most once a second (RATE_LIMITED otherwise), so an honest
  // one that was asked twice in a row answers the second retry; three in a row is no accident.
  max_transient_failures: 3
}

/** Bounds on a policy document, so a hostile or broken one cannot blow up a verifier. */
const MAX_GOLDEN_SETS = 64
const MAX_VALUES_PER_PCR = 64

function bad (msg: string): AttestationError {
  return new AttestationError('BAD_POLICY', msg)
}

function pcrIndex (k: string | number, where: string): number {
  let n = NaN
  if (typeof k === 'number') { n = k } else if (/^(0|[1-9][0-9]?)$/.test(k)) { n = Number(k) }
  if (!Number.isSafeInteger(n) || n < 0 || n > MAX_PCR_INDEX) { throw bad(`${where}: PCR index ${String(k)} is not 0-${MAX_PCR_INDEX}`) }
  return n
}

function hexValue (v: unknown, len: number, where: string): string {
  if (typeof v !== 'string' || v.length !== len || !/^[0-9a-fA-F]+$/.test(v)) { throw bad(`${where}: ${len} hex digits expected`) }
  return v.toLowerCase()
}

function parsePcrValues (v: unknown, len: number): Record<string, string[]> {
  if (v == null || typeof v !== 'object' || Array.isArray(v)) { throw bad('pcr_values must map PCR index to a list of values') }
  const out: Record<string, string[]> = {}
  for (const [k, list] of Object.entries(v)) {
    if (!Array.isArray(list) || list.length === 0 || list.length > MAX_VALUES_PER_PCR) { throw bad(`pcr_values.${k}: 1-${MAX_VALUES_PER_PCR} values`) }
    out[String(pcrIndex(k, 'pcr_values'))] = list.map(x => hexValue(x, len, `pcr_values.${k}`))
  }
  return out
}

function parseGoldenSets (v: unknown, len: number): Array<Record<string, string>> {
  if (!Array.isArray(v) || v.length === 0 || v.length > MAX_GOLDEN_SETS) { throw bad(`golden_sets: 1-${MAX_GOLDEN_SETS} sets`) }
  return v.map((set: unknown, i) => {
    if (set == null || typeof set !== 'object' || Array.isArray(set) || Object.keys(set).length === 0) { throw bad(`golden_sets[${i}] must map PCR index to value`) }
    return Object.fromEntries(Object.entries(set).map(([k, x]) => [String(pcrIndex(k, `golden_sets[${i}]`)), hexValue(x, len, `golden_sets[${i}].${k}`)]))
  })
}

/** Validates a policy document (with defaults filled in) and returns it normalized. */
export function parseAttestationPolicy (value: unknown): AttestationPolicy {
  if (value == null || typeof value !== 'object' || Array.isArray(value)) { throw bad('policy must be an object') }
  const p = { ...DEFAULT_ATTESTATION_POLICY, ...(value as Partial<AttestationPolicy>) }
  const bank = [...TPM_HASHES.values()].find(h => h.name === p.pcr_bank)
  if (bank == null || bank.name === 'sha1') { throw bad(`pcr_bank ${String(p.pcr_bank)} is not sha256/sha384/sha512`) }
  const len = bank.size * 2
  for (const k of ['accept_none', 'require_known_ek', 'require_restricted_ak'] as const) {
    if (typeof p[k] !== 'boolean') { throw bad(`${k} must be true or false`) }
  }
  if (!Array.isArray(p.required_pcrs) || p.required_pcrs.length > MAX_PCR_INDEX + 1) { throw bad('required_pcrs must be a list of PCR indexes') }
  const required = [...new Set(p.required_pcrs.map(i => pcrIndex(i, 'required_pcrs')))].sort((a, b) => a - b)
  const pcrValues = p.pcr_values != null ? parsePcrValues(p.pcr_values, len) : undefined
  const golden = p.golden_sets != null ? parseGoldenSets(p.golden_sets, len) : undefined
  const age = p.max_evidence_age_seconds
  if (typeof age !== 'number' || !Number.isFinite(age) || age <= 0 || age > 86400) { throw bad('max_evidence_age_seconds must be in (0, 86400]') }
  const interval = p.recheck_interval_seconds
  if (typeof interval !== 'number' || !Number.isFinite(interval) || interval < 10 || interval > 7 * 86400) { throw bad('recheck_interval_seconds must be in [10, 604800]') }
  if (p.on_failure !== 'demote' && p.on_failure !== 'close') { throw bad('on_failure must be demote or close') }
  if (typeof p.enforce !== 'boolean') { throw bad('enforce must be true or false') }
  const pending = p.pending_deadline_seconds
  if (typeof pending !== 'number' || !Number.isFinite(pending) || pending < 1 || pending > 600) { throw bad('pending_deadline_seconds must be in [1, 600]') }
  const tries = p.max_transient_failures
  if (!Number.isSafeInteger(tries) || tries < 1 || tries > 100) { throw bad('max_transient_failures must be a whole number in [1, 100]') }
  return {
    accept_none: p.accept_none,
    pcr_bank: bank.name,
    required_pcrs: required,
    ...(pcrValues != null ? { pcr_values: pcrValues } : {}),
    ...(golden != null ? { golden_sets: golden } : {}),
    max_evidence_age_seconds: age,
    require_known_ek: p.require_known_ek,
    require_restricted_ak: p.require_restricted_ak,
    on_failure: p.on_failure,
    recheck_interval_seconds: interval,
    enforce: p.enforce,
    pending_deadline_seconds: pending,
    max_transient_failures: tries
  }
}

/**
 * True when the policy refuses gossip and bundles whose origin certificate lacks the
 * attested-device extension: enforcement on, and every member must quote (with `accept_none`,
 * members without a TPM hold certificates without it by design).
 */
export function requiresAttestedOrigin (policy: AttestationPolicy | undefined): boolean {
  return policy != null && policy.enforce && !policy.accept_none
}

function canonical (v: unknown): unknown {
  if (Array.isArray(v)) { return v.map(canonical) }
  if (v != null && typeof v === 'object') { return Object.fromEntries(Object.keys(v).sort().map(k => [k, canonical((v as Record<string, unknown>)[k])])) }
  return v
}

/**
 * The policy's id: the first 16 bytes of the SHA-256 of its canonical JSON (keys sorted), so the
 * CA and every node name the same document the same way without a registry of ids. Certificates
 * carry it in the attested-device extension.
 */
export function attestationPolicyId (policy: AttestationPolicy): Uint8Array {
  return new Uint8Array(createHash('sha256').update(JSON.stringify(canonical(policy))).digest().subarray(0, 16))
}

/**
 * Applies the PCR rules to values already proven to be the quoted ones: required PCRs present
 * (PCR_MISSING), each listed PCR holds an allowed value, and some golden set matches in full
 * (PCR_NOT_ALLOWED).
 */
export function checkPcrPolicy (policy: AttestationPolicy, pcrs: PcrValues): void {
  if (pcrs.alg !== policy.pcr_bank) {
    throw new AttestationError('PCR_MISSING', `quote covers the ${pcrs.alg} bank; the policy wants ${policy.pcr_bank}`)
  }
  for (const i of policy.required_pcrs) {
    if (pcrs.values[String(i)] == null) { throw new AttestationError('PCR_MISSING', `PCR ${i} is not in the quote`) }
  }
  for (const [k, allowed] of Object.entries(policy.pcr_values ?? {})) {
    const v = pcrs.values[k]
    if (v == null) { throw new AttestationError('PCR_MISSING', `PCR ${k} has allowed values in the policy but is not in the quote`) }
    if (!allowed.includes(v)) { throw new AttestationError('PCR_NOT_ALLOWED', `PCR ${k} holds a value the policy does not allow`) }
  }
  if (policy.golden_sets != null) {
    const match = policy.golden_sets.some(set => Object.entries(set).every(([k, v]) => pcrs.values[k] === v))
    if (!match) { throw new AttestationError('PCR_NOT_ALLOWED', 'the quoted PCRs match no golden measurement set') }
  }
}

/** The PCRs a quote must cover to satisfy `policy`: required ones and every one it names values for. */
export function policyPcrSelection (policy: AttestationPolicy): number[] {
  const set = new Set<number>(policy.required_pcrs)
  for (const k of Object.keys(policy.pcr_values ?? {})) { set.add(Number(k)) }
  for (const g of policy.golden_sets ?? []) { for (const k of Object.keys(g)) { set.add(Number(k)) } }
  const out = [...set].filter(i => i <= 23).sort((a, b) => a - b)
  // an empty selection cannot be quoted: fall back to the firmware and boot PCRs
  return out.length > 0 ? out : [0, 1, 2, 3, 4, 5, 6, 7]
}
