import { randomBytes } from 'node:crypto'
import { serviceCapabilities, serviceDependencies, TypedEventEmitter } from '@libp2p/interface'
import { AttestedOriginCheck } from '../../src/attestation/attested-origin.ts'
import { policyPcrSelection } from '../../src/attestation/policy.ts'
import { ReplayCache } from '../../src/attestation/replay-cache.ts'
import { DEFAULT_MIN_PROVER_INTERVAL_MS, DEFAULT_RETRY_MS, DEFAULT_ROUND_TRIP_MS, MAX_INBOUND_STREAMS, MAX_OUTBOUND_STREAMS, MAX_TRACKED_PEERS, NONCE_BYTES, PENDING_RETRY_MS, PROTOCOL } from './constants.ts'
import { AttestProtocolError } from './errors.ts'
import { answerChallenge, sendChallenge, toAttestError } from './exchange.ts'
import { MemoryDevicePins } from './pins.ts'
import { noneProver } from './prover.ts'
import { actionFor, verifyAttestation } from './verify-attest.ts'
import type { AttestFailureCode } from './errors.ts'
import type { DevicePinStore } from './pins.ts'
import type { MeshAttest, MeshAttestComponents, MeshAttestEvents, MeshAttestInit, PeerAttestation, PeerDemotedEvent } from './types.ts'
import type { AttestOutcome } from './verify-attest.ts'
import type { AttestationPolicy } from '../../src/attestation/policy.ts'
import type { Certificate } from '../../src/pki/certificate.ts'
import type { AuthenticatedPeer } from '../auth/index.ts'
import type { Connection, CounterGroup, Logger, Stream } from '@libp2p/interface'

interface PeerState extends PeerAttestation {
  peerId: string
  nodeId: string
  timer?: ReturnType<typeof setTimeout>
  /** Fails a peer still pending when it runs (the policy's pending deadline after auth). */
  deadline?: ReturnType<typeof setTimeout>
  running?: Promise<PeerAttestation>
  /** Transient failures in a row (RATE_LIMITED, CLOSED); reset by any definite outcome. */
  transient: number
}

/** Failures that say nothing about the peer's device: try again later, leave its status alone. */
const TRANSIENT = new Set<AttestFailureCode | 'UNKNOWN'>(['RATE_LIMITED', 'CLOSED'])

/** See `meshAttest()` in index.ts; the class is exported for tests that build it with stub components. */
export class DefaultMeshAttest extends TypedEventEmitter<MeshAttestEvents> implements MeshAttest {
  readonly protocol = PROTOCOL
  readonly [serviceCapabilities] = ['@dadm-mesh/attest']
  readonly [serviceDependencies] = ['@dadm-mesh/auth']
  readonly [Symbol.toStringTag] = '@dadm-mesh/attest'
  private readonly components: MeshAttestComponents
  private readonly init: MeshAttestInit
  private readonly log: Logger
  private readonly now: () => number
  private readonly policy?: AttestationPolicy
  private readonly intervalMs: number
  private readonly pins: DevicePinStore
  private readonly replay = new ReplayCache({ maxEntries: MAX_TRACKED_PEERS })
  private readonly peers = new Map<string, PeerState>()
  /** peerId -> last time we answered it (prover rate limit). */
  private readonly answered = new Map<string, number>()
  private readonly results?: CounterGroup
  private readonly origins: AttestedOriginCheck
  private running = false

  constructor (components: MeshAttestComponents, init: MeshAttestInit) {
    super()
    this.components = components
    this.init = init
    this.log = components.logger.forComponent('dadm-mesh:attest')
    this.now = init.now ?? Date.now
    if (init.policy != null) { this.policy = init.policy }
    this.intervalMs = init.intervalMs ?? (init.policy?.recheck_interval_seconds ?? 3600) * 1000
    this.pins = init.pins ?? new MemoryDevicePins()
    this.origins = new AttestedOriginCheck(init.policy)
    this.results = components.metrics?.registerCounterGroup('dadm_mesh_attest_results_total', { label: 'code' })
    this.onAuthenticated = this.onAuthenticated.bind(this)
    this.onReauthenticated = this.onReauthenticated.bind(this)
  }

  async start (): Promise<void> {
    if (this.running) { return }
    this.running = true
    // Guarded: an unauthenticated peer can neither challenge us nor be challenged.
    // Also over relayed (limited) connections: a member behind NAT is attested like any other.
    await this.components.registrar.handle(PROTOCOL, this.components.auth.guard(async (stream, connection) => this.onChallenge(stream, connection)), {
      maxInboundStreams: MAX_INBOUND_STREAMS,
      maxOutboundStreams: MAX_OUTBOUND_STREAMS,
      runOnLimitedConnection: true
    })
    this.components.auth.addEventListener('peer:authenticated', this.onAuthenticated)
    this.components.auth.addEventListener('peer:reauthenticated', this.onReauthenticated)
  }

  async stop (): Promise<void> {
    if (!this.running) { return }
    this.running = false
    this.components.auth.removeEventListener('peer:authenticated', this.onAuthenticated)
    this.components.auth.removeEventListener('peer:reauthenticated', this.onReauthenticated)
    for (const s of this.peers.values()) { clearTimeout(s.timer); delete s.timer; clearTimeout(s.deadline); delete s.deadline }
    await this.components.registrar.unhandle(PROTOCOL).catch(() => {})
  }

  isDemoted (peerId: string): boolean {
    return this.peers.get(peerId)?.status === 'failed'
  }

  isMember (peerId: string): boolean {
    if (this.policy == null) { return true }
    const status = this.peers.get(peerId)?.status ?? 'unknown'
    if (status === 'failed') { return false }
    // Under enforcement only a passed check makes a member: pending ('unknown') is not enough.
    return !this.policy.enforce || status === 'attested' || status === 'accepted-none'
  }

  acceptsOrigin (leaf: Certificate | Uint8Array, fingerprint?: string): boolean {
    return this.origins.accepts(leaf, fingerprint)
  }

  statusOf (peerId: string): PeerAttestation {
    const s = this.peers.get(peerId)
    if (s == null) { return { status: 'unknown' } }
    return { status: s.status, ...(s.checkedAt != null ? { checkedAt: s.checkedAt } : {}), ...(s.code != null ? { code: s.code } : {}) }
  }

  async attestNow (peerId: string): Promise<PeerAttestation> {
    const s = this.peers.get(peerId)
    if (s == null || this.policy == null) { return this.statusOf(peerId) }
    return this.round(s)
  }

  /** A connection passed auth: a verifier checks the peer at once (unless a check is under way). */
  private onAuthenticated (evt: CustomEvent<AuthenticatedPeer>): void {
    if (this.policy == null || !this.running) { return }
    const peer = evt.detail
    let s = this.peers.get(peer.peerId)
    if (s == null) {
      this.evict()
      s = { peerId: peer.peerId, nodeId: peer.nodeId, status: 'unknown', transient: 0 }
      this.peers.set(peer.peerId, s)
    }
    s.nodeId = peer.nodeId
    // A new connection of a peer in good standing keeps its schedule; anyone else is checked now.
    const good = s.status === 'attested' || s.status === 'accepted-none'
    if (s.running == null && (s.timer == null || !good)) { this.schedule(s, 0) }
    if (!good) { this.startDeadline(s) }
  }

  /**
   * Starts the pending deadline of a peer that has not passed (once per pending spell): if it
   * has not passed when the deadline comes, it fails with PENDING_TIMEOUT and the policy's
   * action, whatever its checks were doing (a peer that stalls every round must not stay pending).
   */
  private startDeadline (s: PeerState): void {
    const policy = this.policy as AttestationPolicy
    if (s.deadline != null || !this.running) { return }
    s.deadline = setTimeout(() => {
      delete s.deadline
      if (!this.running || s.status === 'attested' || s.status === 'accepted-none' || s.status === 'failed') { return }
      // Gone before its deadline: it stays pending, and its next auth starts a new deadline.
      if (!this.components.auth.authenticatedConnections().some(c => c.peer.peerId === s.peerId && c.connection.status === 'open')) { return }
      this.apply(s, s.nodeId, { ok: false, code: 'PENDING_TIMEOUT' })
        .then(() => { if (s.running == null) { this.schedule(s, this.intervalMs) } })
        .catch((err: Error) => { this.log.error('failing pending peer %s failed - %e', s.peerId, err) })
    }, (this.init.pendingDeadlineMs ?? policy.pending_deadline_seconds * 1000))
    s.deadline.unref?.()
  }

  /**
   * The peer rotated its identity key: evidence binds a key, so the new one is checked now
   * rather than at the next interval (a device that attested the old key says nothing yet
   * about the new one).
   */
  private onReauthenticated (evt: CustomEvent<AuthenticatedPeer>): void {
    if (this.policy == null || !this.running) { return }
    const s = this.peers.get(evt.detail.peerId)
    if (s != null && s.running == null) { this.schedule(s, 0) }
  }

  private schedule (s: PeerState, delayMs: number): void {
    clearTimeout(s.timer)
    if (!this.running) { return }
    s.timer = setTimeout(() => {
      delete s.timer
      this.round(s).catch((err: Error) => { this.log.error('attestation of %s failed - %e', s.peerId, err) })
    }, delayMs)
    s.timer.unref?.()
  }

  /** One check of one peer, then the next one scheduled. Concurrent callers share the round. */
  private async round (s: PeerState): Promise<PeerAttestation> {
    s.running ??= this.check(s).finally(() => { delete s.running })
    return s.running
  }

  private async check (s: PeerState): Promise<PeerAttestation> {
    const policy = this.policy as AttestationPolicy
    const found = this.components.auth.authenticatedConnections().filter(c => c.peer.peerId === s.peerId && c.connection.status === 'open')
    // The peer is gone: nothing to check until it authenticates again (its status stays).
    if (found.length === 0) { return this.statusOf(s.peerId) }
    const { connection, peer } = found[found.length - 1]
    const nonce = new Uint8Array(randomBytes(NONCE_BYTES))
    const issuedAt = this.now()
    const signal = AbortSignal.timeout(this.init.roundTripMs ?? DEFAULT_ROUND_TRIP_MS)
    let outcome: AttestOutcome
    try {
      const stream = await connection.newStream(PROTOCOL, { signal, runOnLimitedConnection: true })
      const { answer, finish } = await sendChallenge(stream, { nonce, bank: policy.pcr_bank, pcrs: policyPcrSelection(policy) }, signal)
      if ('refused' in answer) {
        outcome = { ok: false, code: answer.refused === 'UNKNOWN' ? 'PROVER_FAILED' : answer.refused }
      } else {
        const pinned = await this.pins.get(peer.nodeId)
        outcome = verifyAttestation(new Date(this.now()), {
          evidence: answer.evidence, nonce, nonceIssuedAt: new Date(issuedAt), identitySpki: peer.spki, policy, replay: this.replay, ...(pinned != null ? { pinned } : {})
        })
      }
      await finish(outcome.ok ? { ok: true } : { ok: false, code: outcome.code })
    } catch (err) {
      outcome = { ok: false, code: toAttestError(err, signal).code }
    }
    if (!outcome.ok && TRANSIENT.has(outcome.code)) {
      s.transient++
      // Each alone says nothing about the device; a peer that is "busy" or resets every time does.
      if (s.transient < policy.max_transient_failures) {
        this.log('attestation of %s postponed (%d of %d): %s', s.peerId, s.transient, policy.max_transient_failures, outcome.code)
        const pending = s.status === 'unknown'
        const retry = Math.min(this.init.retryMs ?? DEFAULT_RETRY_MS, this.intervalMs)
        this.schedule(s, pending ? Math.min(retry, PENDING_RETRY_MS) : retry)
        return this.statusOf(s.peerId)
      }
    }
    await this.apply(s, peer.nodeId, outcome, connection)
    this.schedule(s, this.intervalMs)
    return this.statusOf(s.peerId)
  }

  private async apply (s: PeerState, nodeId: string, outcome: AttestOutcome, connection?: Connection): Promise<void> {
    const checkedAt = this.now()
    s.checkedAt = checkedAt
    s.transient = 0
    clearTimeout(s.deadline)
    delete s.deadline
    this.results?.increment({ [outcome.ok ? (outcome.attested ? 'OK' : 'NONE') : outcome.code]: true })
    if (outcome.ok) {
      s.status = outcome.attested ? 'attested' : 'accepted-none'
      delete s.code
      if (outcome.device != null && this.pins.set != null && await this.pins.get(nodeId) == null) {
        await this.pins.set(nodeId, outcome.device)
      }
      this.log('attested %s node_id=%s type=%s', s.peerId, nodeId, outcome.type)
      this.safeDispatchEvent('peer:attested', { detail: { peerId: s.peerId, nodeId, attested: outcome.attested, type: outcome.type, checkedAt } })
      return
    }
    s.status = 'failed'
    s.code = outcome.code
    const action = actionFor(this.policy as AttestationPolicy, outcome) === 'close' ? 'close' : 'demote'
    // The peer's certificate, for the CA's report: taken before a close drops its sessions.
    const serialHex = this.components.auth.authenticatedConnections().find(c => c.peer.peerId === s.peerId)?.peer.serialHex
    const event: PeerDemotedEvent = { peerId: s.peerId, nodeId, code: outcome.code, action, checkedAt, ...(serialHex != null ? { serialHex } : {}) }
    this.log.error('attestation of %s node_id=%s failed code=%s: %s', s.peerId, nodeId, outcome.code, action)
    this.safeDispatchEvent('peer:demoted', { detail: event })
    if (action === 'close') {
      const err = new AttestProtocolError('REMOTE_REJECTED', `attestation failed: ${outcome.code}`, { remoteCode: outcome.code })
      for (const c of this.components.auth.authenticatedConnections()) {
        if (c.peer.peerId === s.peerId) { c.connection.abort(err) }
      }
      if (connection?.status === 'open') { connection.abort(err) }
    }
    // Every failure is reported (demote or close): the CA's policy, not this node, decides
    // whether reports revoke, and it counts only distinct reporters of device-evidence codes.
    try {
      await this.init.onRevocationRequest?.(event)
    } catch (err: any) {
      this.log.error('revocation request for %s failed - %e', s.peerId, err)
    }
  }

  /** Prover side: answers a verifier's challenge with fresh evidence (at most once per peer per interval). */
  private async onChallenge (stream: Stream, connection: Connection): Promise<void> {
    const peerId = connection.remotePeer.toString()
    const now = this.now()
    const last = this.answered.get(peerId)
    const tooSoon = last != null && now - last < (this.init.minProverIntervalMs ?? DEFAULT_MIN_PROVER_INTERVAL_MS)
    if (!tooSoon) {
      this.answered.delete(peerId)
      this.answered.set(peerId, now)
      while (this.answered.size > MAX_TRACKED_PEERS) { this.answered.delete(this.answered.keys().next().value as string) }
    }
    const signal = AbortSignal.timeout(this.init.roundTripMs ?? DEFAULT_ROUND_TRIP_MS)
    try {
      const verdict = await answerChallenge(stream, {
        prover: this.init.prover ?? noneProver,
        // The key this verifier authenticated us with on this connection (see localSpkiOf).
        identitySpki: () => this.components.auth.localSpkiOf?.(connection) ?? this.init.identitySpki(),
        signal,
        ...(tooSoon ? { refuse: 'RATE_LIMITED' as const } : {})
      })
      if (verdict != null && !verdict.ok) { this.log.error('%s refused our attestation: %s', peerId, verdict.code ?? 'no code') }
    } catch (err: any) {
      this.log.error('answering the challenge of %s failed - %e', peerId, err)
    }
  }

  /** Keeps the peer map bounded: drops the oldest peers that have no check pending. */
  private evict (): void {
    if (this.peers.size < MAX_TRACKED_PEERS) { return }
    for (const [id, s] of this.peers) {
      if (this.peers.size < MAX_TRACKED_PEERS) { return }
      if (s.running == null) { clearTimeout(s.timer); clearTimeout(s.deadline); this.peers.delete(id) }
    }
  }
}
