import { isEnrollmentErrorCode } from '../../enrollment/errors.ts'
import { issueSessionCredential } from '../../pki/session-cert.ts'
import { httpsRequestPinned } from '../enroll/https-json.ts'
import { LifecycleError } from '../lifecycle/errors.ts'
import type { PeerDemotedEvent } from '../../../protocols/attest/index.ts'
import type { X509Signer } from '../../identity/key-store.ts'
import type { Logger } from 'pino'

/**
 * The node's side of `POST /v1/attestation-failures`: every failed attestation of a peer is
 * reported to the CA over mutual TLS with this node's certificate (through a short session
 * certificate, as rotation does, so a key in a PKCS#11 token or TPM signs without leaving it).
 * The CA's policy decides whether reports revoke. Reports are best effort: a CA that is away
 * misses one, and the next failed check of the peer reports it again.
 */

export interface AttestationReporterInit {
  /** Base URL of the enrollment service (node.json `ca_url`); '' turns reporting off. */
  caUrl: string
  /** The roots pinned for the TLS connection, PEM; read per report (a trust bundle may add one). */
  caPem(): string
  /** The current identity key and chain, read per report (a rotation counts at once). */
  identity(): { signer: X509Signer, chain: Uint8Array[] }
  now(): number
  log?: Logger
  /** Deadline of one report. @default 10 s */
  timeoutMs?: number
}

/** Lifetime of the session certificate one report travels with. */
const SESSION_MS = 5 * 60_000
/** Reports in flight at once; more are dropped (and logged): a burst must not pile up sockets. */
const MAX_IN_FLIGHT = 4
/** The answer is 204 or a catalogue error: a few hundred bytes. */
const MAX_ANSWER_BYTES = 16 * 1024
const DEFAULT_TIMEOUT_MS = 10_000

export class AttestationReporter {
  readonly #init: AttestationReporterInit
  #inFlight = 0

  constructor (init: AttestationReporterInit) {
    this.#init = init
  }

  /** Reports `event`; resolves when the CA answered 204. Throws LifecycleError (CA_UNREACHABLE, CA_REFUSED). */
  async report (event: PeerDemotedEvent): Promise<void> {
    // Without the peer's serial (it left before the check ended) there is nothing the CA can check.
    if (this.#init.caUrl === '' || event.serialHex == null) { return }
    if (this.#inFlight >= MAX_IN_FLIGHT) {
      this.#init.log?.warn({ node_id: event.nodeId, code: event.code }, 'attestation failure not reported: too many reports in flight')
      return
    }
    this.#inFlight++
    try {
      const { signer, chain } = this.#init.identity()
      const session = await issueSessionCredential({ signer, nodeChain: chain, now: new Date(this.#init.now()), validityMs: SESSION_MS })
      const url = new URL('/v1/attestation-failures', this.#init.caUrl).toString()
      const body = Buffer.from(JSON.stringify({ node_id: event.nodeId, serial: event.serialHex, code: event.code }))
      let reply
      try {
        reply = await httpsRequestPinned('POST', url, body, {
          caPem: this.#init.caPem(),
          clientCertPem: session.certPem,
          clientKeyPem: session.keyPem,
          maxBytes: MAX_ANSWER_BYTES,
          timeoutMs: this.#init.timeoutMs ?? DEFAULT_TIMEOUT_MS
        })
      } catch (err) {
        throw new LifecycleError('CA_UNREACHABLE', `cannot reach ${url}: ${(err as Error).message}`, { cause: err })
      }
      if (reply.status !== 204) {
        let code: unknown
        try { code = JSON.parse(reply.body.toString('utf8'))?.error?.code } catch { /* not a catalogue body: the status says enough */ }
        throw new LifecycleError(reply.status >= 500 || reply.status === 429 ? 'CA_UNREACHABLE' : 'CA_REFUSED', `POST /v1/attestation-failures: HTTP ${reply.status}`, {
          status: reply.status, ...(isEnrollmentErrorCode(code) ? { serverCode: code } : {})
        })
      }
      this.#init.log?.info({ node_id: event.nodeId, serial: event.serialHex, code: event.code }, 'attestation failure reported to the CA')
    } finally {
      this.#inFlight--
    }
  }
}
