import { randomBytes } from 'node:crypto'
import { TypedEventEmitter } from '@libp2p/interface'
import { createCsr } from '../../ca/csr-builder.ts'
import { renewalTranscript } from '../../enrollment/renewal-proof.ts'
import { KeyStoreError } from '../../identity/errors.ts'
import { parseCertificate } from '../../pki/certificate.ts'
import { bytesEqual } from '../../pki/signature.ts'
import { verifyChain } from '../../pki/verify-chain.ts'
import { derToPem, pemToDer, pemToDerAll } from '../../util/pem.ts'
import { fetchRenewNonce, postRenew, postRotate } from './ca-client.ts'
import { LifecycleError } from './errors.ts'
import { persistRetired, persistRotation, recordPendingKey } from './node-state.ts'
import { checkRotationPolicy, renewalTime, retryDelay, ROTATION_DEFAULTS } from './schedule.ts'
import type { CaEndpoint } from './ca-client.ts'
import type { CredentialSet, IdentityPair } from './credential-set.ts'
import type { NodeFileStore } from './node-state.ts'
import type { RotationPolicy } from './schedule.ts'
import type { IssuedResponseBody } from '../../enrollment/schemas.ts'
import type { KeyHandle, KeyStore } from '../../identity/key-store.ts'
import type { Certificate } from '../../pki/certificate.ts'

/** Why a rotation ran. */
export type RotationReason = 'scheduled' | 'rotate-now' | 'renew-expired' | 'manual'

/** A rotation (or renewal) that installed a new certificate. */
export interface RotatedEvent {
  reason: RotationReason
  serialHex: string
  previousSerialHex: string
  notBefore: number
  notAfter: number
  /** The old certificate had expired: `/v1/renew` (proof of possession) instead of `/v1/rotate`. */
  renewed: boolean
  /** When the next scheduled rotation is due (clock ms). */
  nextAt: number
}

export interface RotationFailedEvent {
  reason: RotationReason
  /** `name:code`, bounded (LifecycleError codes, or the error class for a local failure). */
  code: string
  serverCode?: string
  failures: number
  /** Wait until the next attempt, ms; Infinity after REENROLL_REQUIRED. */
  retryInMs: number
}

export interface RotationManagerEvents {
  rotated: CustomEvent<RotatedEvent>
  'rotation-failed': CustomEvent<RotationFailedEvent>
  /** A retired key was deleted from the key store (its certificate expired). */
  'key-deleted': CustomEvent<{ label: string, serialHex: string }>
}

export interface RotationManagerInit {
  /** node.json, shared with the trust updates (one writer at a time). */
  files: NodeFileStore
  keyStore: KeyStore
  credentials: CredentialSet
  /** The node's trust now: the CA's TLS pin and the check of every answer read it. */
  trust: { roots(): Certificate[], intermediates(): Certificate[] }
  peerId: string
  policy?: Partial<RotationPolicy>
  /** The clock, ms. @default Date.now */
  now?(): number
  /** @default Math.random */
  random?(): number
  /** Evidence for the CA (a TPM quote binding the new key), when the node attests. */
  evidence?(identitySpki: Uint8Array): Promise<Record<string, unknown> | undefined>
  /** Deadline of one request to the CA, ms. @default 30 s */
  timeoutMs?: number
  /**
   * How requests reach the CA. @default the HTTPS client of ca-client.ts (mutual TLS through a
   * session certificate). The simulation harness may call an in-process CaService instead.
   */
  caClient?: CaClient
}

/** The CA operations rotation needs, over whatever carries them. */
export interface CaClient {
  rotate(ca: CaEndpoint, req: Parameters<typeof postRotate>[1]): Promise<IssuedResponseBody>
  renewNonce(ca: CaEndpoint): Promise<Uint8Array>
  renew(ca: CaEndpoint, req: Parameters<typeof postRenew>[1]): Promise<IssuedResponseBody>
}

/** The HTTPS client: `POST /v1/rotate`, `GET /v1/renew/nonce`, `POST /v1/renew`. */
export const HTTPS_CA_CLIENT: CaClient = { rotate: postRotate, renewNonce: fetchRenewNonce, renew: postRenew }

/**
 * Scheduled rotation of the node's identity key and certificate. A tick every
 * `tickMs` compares the injected clock with the deadlines, so the schedule holds under a fake or
 * fast clock and across a suspended process. At the renewal time (2/3 of the lifetime, spread
 * earlier at random) or on a rotate-now request, it creates a new key under a new label in the
 * node's key store, builds the CSR (with evidence when the node attests), and asks the CA:
 * `/v1/rotate` over mutual TLS with the current certificate, or `/v1/renew` with a proof by the
 * current key once that has expired. The answer is checked against the node's trust, written to
 * NODEDIR (crash-safe order, see node-state.ts) and installed: every new handshake uses it at
 * once (the `rotated` listener then re-authenticates live sessions). The old pair is kept until
 * its certificate expires, then its key is deleted. Failures back off exponentially; a refusal
 * that only a new enrollment can cure (REENROLL_REQUIRED) stops the schedule.
 */
export class RotationManager extends TypedEventEmitter<RotationManagerEvents> {
  readonly policy: RotationPolicy
  private readonly init: RotationManagerInit
  private readonly now: () => number
  private readonly random: () => number
  private readonly files: NodeFileStore
  private pending: KeyHandle | undefined
  private timer: ReturnType<typeof setInterval> | undefined
  private busy: Promise<void> | undefined
  private nextAt: number
  private reason: RotationReason = 'scheduled'
  /** A rotate-now asked for a certificate issued at or after this time (ms). */
  private rotateBefore = 0
  private failures = 0
  private stopped = false

  constructor (init: RotationManagerInit) {
    super()
    this.init = init
    this.files = init.files
    this.now = init.now ?? Date.now
    this.random = init.random ?? Math.random
    this.policy = checkRotationPolicy({ ...ROTATION_DEFAULTS, ...init.policy })
    this.nextAt = renewalTime(init.credentials.current().leaf, this.policy, this.random)
  }

  /** When the next attempt is due (clock ms); Infinity once only a new enrollment helps. */
  get nextAttemptAt (): number {
    return this.nextAt
  }

  /** Failed attempts in a row. */
  get failureCount (): number {
    return this.failures
  }

  /** Starts the tick. Idempotent. */
  start (): void {
    if (this.timer != null || this.stopped) { return }
    this.timer = setInterval(() => { this.tick() }, this.policy.tickMs)
    this.timer.unref?.()
  }

  /** Stops the tick and waits for an attempt in flight. Idempotent. */
  async stop (): Promise<void> {
    this.stopped = true
    clearInterval(this.timer)
    this.timer = undefined
    await this.busy?.catch(() => {})
  }

  /**
   * A verified rotate-now: rotate within `withinMs` (at a random point) unless the current
   * certificate was issued at or after `issuedBefore` (the node rotated since the notice).
   */
  requestRotation (issuedBefore: number, withinMs = this.policy.rotateNowSpreadMs): boolean {
    // X.509 times have one-second resolution: a certificate issued in the notice's second counts as after it.
    const before = Math.floor(issuedBefore / 1000) * 1000
    this.rotateBefore = Math.max(this.rotateBefore, before)
    if (this.init.credentials.current().leaf.notBefore >= before) { return false }
    this.rotateSoon(withinMs)
    return true
  }

  /** Rotates within `withinMs` (at a random point), whatever the current certificate. */
  rotateSoon (withinMs: number, reason: RotationReason = 'rotate-now'): void {
    const at = this.now() + Math.round(this.random() * withinMs)
    if (at < this.nextAt) {
      this.nextAt = at
      this.reason = reason
    }
  }

  /** Runs one attempt now (tests, operators); resolves with the new certificate or throws LifecycleError. */
  async rotateNow (reason: RotationReason = 'manual'): Promise<RotatedEvent> {
    while (this.busy != null) { await this.busy.catch(() => {}) }
    let result: RotatedEvent | undefined
    const run = this.attempt(reason).then(r => { result = r })
    this.busy = run.catch(() => {}).finally(() => { this.busy = undefined })
    await run
    return result as RotatedEvent
  }

  /**
   * For a node whose certificate expired while it was offline: renews (proof of possession at
   * `/v1/renew`), retrying with back-off until it succeeds, the CA says only a new enrollment
   * helps (REENROLL_REQUIRED, thrown), or `maxWaitMs` passes (the last error, thrown).
   */
  async renewExpired (options: { maxWaitMs?: number, signal?: AbortSignal } = {}): Promise<RotatedEvent> {
    const started = performance.now()
    for (let failures = 1; ; failures++) {
      try {
        return await this.rotateNow('renew-expired')
      } catch (err: any) {
        if (this.stopped || err?.code === 'REENROLL_REQUIRED' || options.signal?.aborted === true) { throw err }
        const wait = retryDelay(failures, this.policy, this.random)
        if (options.maxWaitMs != null && performance.now() - started + wait > options.maxWaitMs) { throw err }
        await new Promise(resolve => setTimeout(resolve, wait))
      }
    }
  }

  private tick (): void {
    if (this.busy != null || this.stopped) { return }
    this.busy = this.step().finally(() => { this.busy = undefined })
  }

  private async step (): Promise<void> {
    await this.sweepRetired().catch(() => {})
    const now = this.now()
    if (now < this.nextAt) { return }
    const reason = this.init.credentials.current().leaf.notAfter < now ? 'renew-expired' : this.reason
    try {
      await this.attempt(reason)
    } catch (err: any) {
      this.failures++
      const code = err instanceof LifecycleError ? err.code : `${String(err?.name)}:${String(err?.code ?? '')}`
      const retryInMs = code === 'REENROLL_REQUIRED'
        ? Infinity
        : code === 'CA_REFUSED' ? this.policy.retryMaxMs : retryDelay(this.failures, this.policy, this.random)
      this.nextAt = now + retryInMs
      this.safeDispatchEvent('rotation-failed', { detail: { reason, code, ...(err?.serverCode != null ? { serverCode: err.serverCode } : {}), failures: this.failures, retryInMs } })
    }
  }

  /** One rotation or renewal, start to end; throws LifecycleError (or a key store error). */
  private async attempt (reason: RotationReason): Promise<RotatedEvent> {
    if (this.stopped && reason !== 'manual') { throw new LifecycleError('STOPPED', 'the rotation manager is stopped') }
    const cur = this.init.credentials.current()
    const now = new Date(this.now())
    const expired = now.getTime() > cur.leaf.notAfter
    const key = await this.pendingKey(cur.key.algorithm)
    const file = this.files.file
    const csrDer = await createCsr(key, { nodeId: file.node_id, peerId: this.init.peerId })
    const csrPem = derToPem(csrDer, 'CERTIFICATE REQUEST')
    const attestation = await this.init.evidence?.(key.publicKeySpki)
    const ca: CaEndpoint = {
      url: file.ca_url,
      caPem: this.init.trust.roots().map(r => derToPem(r.der, 'CERTIFICATE')).join(''),
      ...(this.init.timeoutMs != null ? { timeoutMs: this.init.timeoutMs } : {})
    }
    const client = this.init.caClient ?? HTTPS_CA_CLIENT
    let issued: IssuedResponseBody
    if (!expired) {
      issued = await client.rotate(ca, { signer: cur.key.signer(), chain: cur.chain, now, csrPem, serialHex: cur.leaf.serialHex, ...(attestation != null ? { attestation } : {}) })
    } else {
      const nonce = await client.renewNonce(ca)
      const proof = await cur.key.sign(renewalTranscript(nonce, csrDer))
      issued = await client.renew(ca, { chain: cur.chain, csrPem, nonce, proof, ...(attestation != null ? { attestation } : {}) })
    }
    const next = this.checkAnswer(issued, key, new Date(this.now()))
    if (this.stopped && reason !== 'manual') { throw new LifecycleError('STOPPED', 'stopped while the CA answered; the new key stays pending') }
    await this.files.update(async (dir, f) => persistRotation(dir, f, {
      ref: { ...f.identity_key, label: key.label },
      chain: next.chain,
      leaf: next.leaf,
      retired: { label: cur.label, serialHex: cur.leaf.serialHex, notAfter: cur.leaf.notAfter },
      at: now
    }))
    this.init.credentials.install(next)
    this.pending = undefined
    this.failures = 0
    this.reason = 'scheduled'
    this.nextAt = renewalTime(next.leaf, this.policy, this.random)
    // A rotate-now that came while this attempt ran, and that this certificate does not satisfy.
    if (next.leaf.notBefore < this.rotateBefore) { this.requestRotation(this.rotateBefore) }
    const event: RotatedEvent = { reason, serialHex: next.leaf.serialHex, previousSerialHex: cur.leaf.serialHex, notBefore: next.leaf.notBefore, notAfter: next.leaf.notAfter, renewed: expired, nextAt: this.nextAt }
    this.safeDispatchEvent('rotated', { detail: event })
    return event
  }

  /** The key of the rotation in progress: the one a failed attempt (or a crash) left, else a new one. */
  private async pendingKey (algorithm: KeyHandle['algorithm']): Promise<KeyHandle> {
    if (this.pending != null) { return this.pending }
    const recorded = this.files.file.pending_identity_key
    if (recorded != null && recorded.label !== this.init.credentials.current().label && await this.init.keyStore.has(recorded.label)) {
      this.pending = await this.init.keyStore.load(recorded.label)
      return this.pending
    }
    // A new label per key: the old key stays under its own until its certificate expires.
    const label = `identity-${this.now().toString(36)}-${randomBytes(3).toString('hex')}`
    const key = await this.init.keyStore.generate(label, algorithm)
    await this.files.update(async (dir, f) => recordPendingKey(dir, f, { ...f.identity_key, label }))
    this.pending = key
    return key
  }

  /** Trusts nothing in the answer until it certifies our new key, node_id and PeerId under our roots now. */
  private checkAnswer (issued: IssuedResponseBody, key: KeyHandle, now: Date): IdentityPair {
    try {
      const leafDer = pemToDer(issued.certificate, 'CERTIFICATE')
      const chainDer = pemToDerAll(issued.chain, 'CERTIFICATE')
      const leaf = parseCertificate(leafDer)
      verifyChain(now, leaf, [...chainDer, ...this.init.trust.intermediates()], this.init.trust.roots(), [], { expectedNodeId: this.files.file.node_id, expectedPeerId: this.init.peerId })
      if (!bytesEqual(leaf.spki, key.publicKeySpki)) { throw new Error('the certificate does not certify our new key') }
      return { label: key.label, key, chain: [leafDer, ...chainDer], leaf }
    } catch (err) {
      throw new LifecycleError('BAD_RESPONSE', `the CA's answer is no valid certificate for this node under the roots it trusts: ${(err as Error).message}`, { cause: err })
    }
  }

  /** Deletes the keys of retired pairs whose certificates have expired. */
  private async sweepRetired (): Promise<void> {
    const now = this.now()
    for (const r of [...this.init.credentials.retired()]) {
      if (now <= r.notAfter) { continue }
      try {
        await this.init.keyStore.delete(r.label)
      } catch (err) {
        if (!(err instanceof KeyStoreError && err.code === 'KEY_NOT_FOUND')) { throw err }
      }
      // node.json first: whoever sees the pair gone from memory also finds it gone on disk.
      await this.files.update(async (dir, f) => persistRetired(dir, f, (f.retired_identity_keys ?? []).filter(k => k.label !== r.label)))
      this.init.credentials.dropRetired(r.label)
      this.safeDispatchEvent('key-deleted', { detail: { label: r.label, serialHex: r.serialHex } })
    }
  }
}
