import { Counter, Gauge } from 'prom-client'
import { boundedLabel } from '../metrics/bounded-labels.ts'
import { readinessReport } from '../metrics/readiness.ts'
import type { CaEvent, CaEventSink } from './ca-events.ts'
import type { CaService } from './ca-service.ts'
import type { ReadinessReport } from '../metrics/readiness.ts'
import type { CrlRecord } from '../store/ca-store.ts'
import type { Registry } from 'prom-client'

/**
 * The CA service's metrics, after step-ca's: certificates signed by operation and result,
 * refusals by code, tokens minted and outstanding, revocations, the CRL number. Counters follow
 * the CA's event log (`CaEventSink`), so every decision the log records is counted the same way
 * and nothing in the operations themselves knows about metrics; gauges read the store at scrape.
 */

const OPERATIONS = new Set(['enroll', 'renew', 'rotate'])

export class CaMetrics {
  readonly #certificates: Counter
  readonly #refused: Counter
  readonly #minted: Counter
  readonly #revoked: Counter
  readonly #registry: Registry

  constructor (registry: Registry) {
    const registers = [registry]
    this.#registry = registry
    this.#certificates = new Counter({ name: 'dadm_mesh_ca_certificates_total', help: 'Certificate requests by operation (enroll, renew, rotate) and result (accepted = signed, refused)', labelNames: ['operation', 'result'], registers })
    this.#refused = new Counter({ name: 'dadm_mesh_ca_refused_total', help: 'Refused certificate requests by operation and error code (TOKEN_REJECTED, NODE_ID_TAKEN, ...)', labelNames: ['operation', 'code'], registers })
    this.#minted = new Counter({ name: 'dadm_mesh_ca_tokens_minted_total', help: 'Enrollment tokens minted', registers })
    this.#revoked = new Counter({ name: 'dadm_mesh_ca_revoked_certificates_total', help: 'Certificates revoked (one per serial)', registers })
  }

  /** An event sink that counts each event, then hands it to `inner` (the pino log). */
  sink (inner?: CaEventSink): CaEventSink {
    return {
      info: (fields, msg) => {
        this.count(fields)
        inner?.info(fields, msg)
      }
    }
  }

  /** Counts one CA event. */
  count (e: CaEvent): void {
    switch (e.event) {
      case 'enroll-accepted': this.#accepted('enroll'); break
      case 'renew-accepted': this.#accepted('renew'); break
      case 'rotate-accepted': this.#accepted('rotate'); break
      case 'enroll-refused': this.#refusal('enroll', e.code); break
      case 'renew-refused': this.#refusal('renew', e.code); break
      case 'rotate-refused': this.#refusal('rotate', e.code); break
      case 'token-minted': this.#minted.inc(); break
      case 'revoked': this.#revoked.inc(e.serials.length); break
      default: break
    }
  }

  #accepted (operation: string): void {
    this.#certificates.inc({ operation: boundedLabel(operation, OPERATIONS), result: 'accepted' })
  }

  #refusal (operation: string, code: string): void {
    const op = boundedLabel(operation, OPERATIONS)
    this.#certificates.inc({ operation: op, result: 'refused' })
    this.#refused.inc({ operation: op, code: boundedLabel(code) })
  }

  /** The gauges that read the open service at scrape time: tokens outstanding, CRL number and next update. */
  observe (service: CaService, now: () => number): void {
    const registers = [this.#registry]
    // eslint-disable-next-line no-new
    new Gauge({
      name: 'dadm_mesh_ca_tokens_outstanding',
      help: 'Enrollment tokens that can still enroll (uses left, not expired)',
      registers,
      async collect () { this.set(await service.tokens.outstanding(now())) }
    })
    // Two views of the newest CRL per scope, read from the store at scrape time.
    const crlGauges = [
      { name: 'dadm_mesh_ca_crl_number', help: 'cRLNumber of the newest CRL the CA signed, by scope (issuing, root)', value: (rec: CrlRecord) => rec.crlNumber },
      { name: 'dadm_mesh_ca_crl_next_update_timestamp_seconds', help: 'nextUpdate of the newest CRL the CA signed, by scope, Unix seconds', value: (rec: CrlRecord) => rec.nextUpdate / 1000 }
    ]
    for (const g of crlGauges) {
      // eslint-disable-next-line no-new
      new Gauge({
        name: g.name,
        help: g.help,
        labelNames: ['scope'],
        registers,
        async collect () {
          for (const scope of ['issuing', 'root'] as const) {
            const rec = await service.ca.store.latestCrl(scope)
            if (rec != null) { this.set({ scope }, g.value(rec)) }
          }
        }
      })
    }
  }
}

/**
 * The CA is ready when its signing key is loaded (the CA is open: keys are loaded at open and
 * released at close) and its LevelDB is open.
 */
export function caReadiness (service: CaService): ReadinessReport {
  const open = service.ca.isOpen
  const status = service.ca.meshStore.db.status
  return readinessReport([
    { name: 'ca_key', ok: open, detail: open ? `issuing key loaded (${service.ca.issuingCertificate.serialHex})` : 'the CA is closed: no key loaded' },
    { name: 'store', ok: status === 'open', detail: `LevelDB ${status}` }
  ])
}
