import { isValidNodeId } from '../pki/node-identity.ts'
import { EnrollmentError } from './errors.ts'
import type { MeshCa } from '../ca/index.ts'

/** Who may enroll. Read from the `enrollment` section of `DIR/ca.json`; every field optional. */
export interface EnrollmentPolicy {
  /** node_ids that may enroll or rotate; absent or null admits any valid node_id. */
  allowNodeIds?: string[] | null
  /** Most distinct, unblocked node_ids holding certificates; absent or null for no limit. */
  maxNodes?: number | null
  /** Refuse enroll/rotate unless the attestation verifier says "accept". @default false */
  requireAttestation?: boolean
}

/** Reads `{ enrollment: { allow_node_ids, max_nodes, require_attestation } }` from ca.json's parsed object. */
export function policyFromCaConfig (config: object): EnrollmentPolicy {
  const e = (config as { enrollment?: Record<string, unknown> }).enrollment
  if (e == null || typeof e !== 'object') { return {} }
  const out: EnrollmentPolicy = {}
  if (Array.isArray(e.allow_node_ids)) {
    if (!e.allow_node_ids.every(id => typeof id === 'string' && isValidNodeId(id))) { throw new TypeError('ca.json: enrollment.allow_node_ids must list valid node_ids') }
    out.allowNodeIds = e.allow_node_ids as string[]
  }
  if (e.max_nodes != null) {
    if (typeof e.max_nodes !== 'number' || !Number.isSafeInteger(e.max_nodes) || e.max_nodes < 0) { throw new TypeError('ca.json: enrollment.max_nodes must be a non-negative integer') }
    out.maxNodes = e.max_nodes
  }
  if (typeof e.require_attestation === 'boolean') { out.requireAttestation = e.require_attestation }
  return out
}

/**
 * Applies the enrollment policy: a node_id the operator revoked is refused until cleared, the
 * allow list (when set) must name it, and a new node_id must fit under `maxNodes`. The set of
 * enrolled node_ids is read from the CA store once at start and kept current by the service, so
 * the max-nodes check costs no scan per request.
 */
export class PolicyGate {
  readonly policy: EnrollmentPolicy
  readonly #ca: MeshCa
  readonly #allow: Set<string> | undefined
  readonly #enrolled = new Set<string>()

  private constructor (ca: MeshCa, policy: EnrollmentPolicy) {
    this.#ca = ca
    this.policy = policy
    this.#allow = policy.allowNodeIds != null ? new Set(policy.allowNodeIds) : undefined
  }

  /** Builds the gate; with `maxNodes` set it counts enrolled node_ids in the store once. */
  static async load (ca: MeshCa, policy: EnrollmentPolicy): Promise<PolicyGate> {
    const gate = new PolicyGate(ca, policy)
    if (policy.maxNodes != null) {
      for (const rec of await ca.store.listCerts()) {
        if (rec.profile === 'node' && rec.nodeId != null && !gate.#enrolled.has(rec.nodeId) && !(await ca.isNodeRevoked(rec.nodeId))) {
          gate.#enrolled.add(rec.nodeId)
        }
      }
    }
    return gate
  }

  /** Number of node_ids counted against `maxNodes`. */
  get enrolledCount (): number {
    return this.#enrolled.size
  }

  /** Throws NODE_REVOKED, NODE_NOT_ALLOWED or MAX_NODES_REACHED (403) when the policy refuses. */
  async check (nodeId: string, options: { rotating: boolean }): Promise<void> {
    // [REJECT] a node_id the operator revoked, until cleared: checked first, it is the strongest "no".
    if (await this.#ca.isNodeRevoked(nodeId)) { throw new EnrollmentError('NODE_REVOKED') }
    // [REJECT] a node_id missing from the allow list, when there is one (rotation too: removal from
    // the list is how an operator stops a node from renewing).
    if (this.#allow != null && !this.#allow.has(nodeId)) { throw new EnrollmentError('NODE_NOT_ALLOWED') }
    // [REJECT] a new node_id beyond the maximum; re-enrolling or rotating an existing one is fine.
    if (!options.rotating && this.policy.maxNodes != null && !this.#enrolled.has(nodeId) && this.#enrolled.size >= this.policy.maxNodes) {
      throw new EnrollmentError('MAX_NODES_REACHED')
    }
  }

  noteIssued (nodeId: string): void {
    if (this.policy.maxNodes != null) { this.#enrolled.add(nodeId) }
  }

  noteRevoked (nodeId: string): void {
    this.#enrolled.delete(nodeId)
  }
}
