import { CaService } from '../../src/enrollment/ca-service.ts'
import { RATE_LIMIT_DEFAULTS } from '../../src/enrollment/rate-buckets.ts'
import { issueServerTls, serverNames } from '../../src/enrollment/server-cert.ts'
import { createEnrollmentServer } from '../../src/enrollment/server.ts'
import { Rng } from '../core/rng.ts'
import { RunClock } from '../core/run-clock.ts'
import type { SimPki } from './sim-pki.ts'
import type { EnrollmentServer } from '../../src/enrollment/server.ts'
import type { RateLimit } from '../../src/enrollment/types.ts'
import type { RotationSpec } from '../scenario/types.ts'

/** A per-address limit no simulated fleet reaches (all its nodes share 127.0.0.1). */
const UNLIMITED: RateLimit = { max: 1_000_000, windowMs: 60_000 }

/** `limit` per window of the run clock, which runs `speed` times faster than the real one. */
const scaled = (limit: RateLimit, speed: number): RateLimit => ({ max: Math.ceil(limit.max * speed), windowMs: limit.windowMs })

/**
 * The run's enrollment service for the `rotation` scenario: the real `CaService` over the run's
 * MeshCa behind the real fastify HTTPS server on 127.0.0.1, in the coordinator's process. Nodes
 * rotate with `POST /v1/rotate` over mutual TLS (the lifecycle's default HTTPS client), so every
 * check of the CA is the one a deployment runs (client chain through the session certificate,
 * validity, CRL, node_id, CSR profile) and every certificate comes from `MeshCa.issue`.
 *
 * The service and the nodes read one run clock (core/run-clock.ts). TLS itself checks the
 * service's certificate against the machine's real clock, so that one is issued on real time.
 */
export class SimCaService {
  readonly url: string
  readonly clock: RunClock
  private readonly server: EnrollmentServer
  private readonly service: CaService
  private readonly pki: SimPki

  private constructor (url: string, clock: RunClock, server: EnrollmentServer, service: CaService, pki: SimPki) {
    this.url = url
    this.clock = clock
    this.server = server
    this.service = service
    this.pki = pki
  }

  /** Serves `pki`'s CA (which the service then owns) on a free loopback port. */
  static async start (pki: SimPki, clockSpeed: number): Promise<SimCaService> {
    const clock = new RunClock(clockSpeed)
    const service = await CaService.wrap(pki.ca, { crlUrl: 'https://127.0.0.1/v1/crl' })
    try {
      const tls = await issueServerTls(pki.ca, serverNames('127.0.0.1'), new Date(Date.now() - 60_000), 24 * 3600)
      const server = await createEnrollmentServer({
        ca: service,
        config: {
          tls,
          clientCaPem: pki.ca.rootPem,
          // Every simulated node calls from 127.0.0.1: the per-address limits (a rack behind one
          // NAT address) would refuse the fleet. The shared limits keep their defaults per minute
          // of the run clock: the clock runs `speed` times faster, so the fleet asks as often per
          // real minute.
          rateLimits: {
            enrollment: { perAddress: UNLIMITED, global: scaled(RATE_LIMIT_DEFAULTS.enrollment.global, clockSpeed) },
            crl: { perAddress: UNLIMITED, global: scaled(RATE_LIMIT_DEFAULTS.crl.global, clockSpeed) },
            authenticated: { perAddress: UNLIMITED, perIdentity: scaled(RATE_LIMIT_DEFAULTS.authenticated.perIdentity, clockSpeed) }
          }
        },
        now: () => new Date(clock.now()),
        logger: false
      })
      const { url } = await server.listen({ host: '127.0.0.1', port: 0 })
      service.useCrlUrl(`${url}/v1/crl`)
      return new SimCaService(url, clock, server, service, pki)
    } catch (err) {
      await service.close()
      throw err
    }
  }

  /** Stops the server, closes the CA and removes its directory. */
  async close (): Promise<void> {
    await this.server.close().catch(() => {})
    await this.service.close().catch(() => {})
    await this.pki.close()
  }
}

/**
 * When node `index`'s first certificate was issued and for how long: `certSeconds`, issued at a
 * seeded random point up to `enrollSpreadSeconds` before `now` (a fleet that enrolled over time;
 * with 0, all at once). The clock runs at real speed until traffic starts, so `now` is its reading.
 */
export function initialCertificate (r: Required<RotationSpec>, seed: string, index: number, now: number): { issuedAt: number, validitySeconds: number } {
  const back = new Rng(`${seed}/enroll-spread/${index}`).next() * r.enrollSpreadSeconds * 1000
  return { issuedAt: Math.round(now - back), validitySeconds: r.certSeconds }
}
