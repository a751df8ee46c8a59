import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { ANOMALY_TOPIC } from '../../protocols/anomaly-gossip/index.ts'
import { enrollNode } from '../../src/daemon/enroll/enroll-node.ts'
import { startNodeRuntime } from '../../src/daemon/runtime/node-runtime.ts'
import { caReadiness, CaMetrics } from '../../src/enrollment/ca-metrics.ts'
import { MIN_SCRYPT_LOG_N } from '../../src/identity/key-file.ts'
import { createProcessRegistry, startOpsServer } from '../../src/metrics/index.ts'
import { startService } from '../enrollment/harness.ts'
import { eventually, waitForEvent } from '../node/fixtures.ts'
import { freePort, hasPrometheusTools, NEEDS_PROMETHEUS, promtoolCheckMetrics, startPrometheus, until } from './tools.ts'
import type { PrometheusServer } from './tools.ts'
import type { NodeRuntime } from '../../src/daemon/runtime/node-runtime.ts'
import type { OpsServer } from '../../src/metrics/index.ts'
import type { AnomalyRecord } from '../../src/store/anomaly-store.ts'
import type { Service } from '../enrollment/harness.ts'

/**
 * A real Prometheus (Debian's package) scrapes a running CA service and two running node
 * runtimes (what `ca serve --metrics` and `node start --metrics` run) over loopback; the test
 * reads what it scraped through Prometheus's HTTP API and sees the CA's enrollment counters, the
 * nodes' auth counters and the gossip counters move as the mesh forms and a node publishes, and
 * the revocation counters move when the CA revokes a node.
 * `promtool check metrics` then lints both expositions.
 */
const PASS = 'metrics test passphrase'
const SCRAPE_MS = 500

describe('a real Prometheus scrapes a node and the CA', function () {
  this.timeout(180_000)
  let svc: Service | undefined
  let base: string
  let caOps: OpsServer | undefined
  let prom: PrometheusServer | undefined
  const runtimes: NodeRuntime[] = []

  before(function () {
    if (!hasPrometheusTools()) { this.skip() } // NEEDS_PROMETHEUS
  })
  after(async () => {
    await Promise.all(runtimes.splice(0).map(async r => { await r.stop() }))
    await prom?.stop()
    await caOps?.close()
    await svc?.cleanup()
    if (base != null) { await rm(base, { recursive: true, force: true }) }
  })

  /** The value Prometheus holds for `q` now (0 while the series does not exist yet). */
  async function value (q: string): Promise<number> {
    const r = await prom?.query(q) ?? []
    return r.reduce((sum, s) => sum + s.value, 0)
  }

  it('sees the CA enrollment counters, the nodes\' auth counters, the gossip counters and the revocation counters move; promtool accepts both outputs', async () => {
    base = await mkdtemp(join(tmpdir(), 'dadm-prom-mesh-'))
    // 1. The CA service with its metrics (counted from its event log) on its own listener.
    const caRegistry = createProcessRegistry()
    const caMetrics = new CaMetrics(caRegistry)
    svc = await startService({ service: { events: caMetrics.sink() } })
    const service = svc.service
    service.useCrlUrl(`${svc.url}/v1/crl`)
    caMetrics.observe(service, () => Date.now())
    caOps = await startOpsServer({ registry: caRegistry, readiness: () => caReadiness(service) }, { host: '127.0.0.1', port: 0 })
    const portA = await freePort()
    const portB = await freePort()
    const nodeTargets = [`127.0.0.1:${portA}`, `127.0.0.1:${portB}`]

    // 2. Prometheus scrapes the CA and the two (not yet started) node listeners.
    prom = await startPrometheus({ ca: [`127.0.0.1:${caOps.port}`], nodes: nodeTargets }, SCRAPE_MS)
    await until(async () => await value('up{job="ca"}') === 1, 30_000, 'CA target up')
    expect(await value('dadm_mesh_ca_certificates_total{operation="enroll",result="accepted"}')).to.equal(0)

    // 3. Two nodes enroll (the CA's accepted counter moves); a forged token is refused (its code is counted).
    const enroll = async (nodeId: string, token?: string): Promise<string> => {
      const dir = join(base, nodeId)
      const t = token ?? (await service.createToken({ ttlMs: 600_000, uses: 1 }, new Date())).token
      await enrollNode({ dir, caUrl: svc?.url as string, caCertPem: svc?.rootPem as string, token: t, nodeId, passphrase: PASS, scryptLogN: MIN_SCRYPT_LOG_N, timeoutMs: 10_000 })
      return dir
    }
    const dirA = await enroll('prom-a')
    const dirB = await enroll('prom-b')
    const forged = await enroll('prom-x', `dmt1_${'A'.repeat(43)}`).then(() => undefined, (e: any) => e)
    expect(forged).to.not.equal(undefined)
    await until(async () => await value('dadm_mesh_ca_certificates_total{operation="enroll",result="accepted"}') === 2, 20_000, 'CA enroll counter at 2 in Prometheus')
    await until(async () => await value('dadm_mesh_ca_refused_total{operation="enroll",code="TOKEN_REJECTED"}') === 1, 20_000, 'CA refusal counted by code in Prometheus')
    expect(await value('dadm_mesh_ca_tokens_outstanding')).to.equal(0)

    // 4. Node A alone: scraped, no authenticated member, so not ready (members).
    const start = async (dir: string, host: number, port: number, bootstrap: string[]): Promise<NodeRuntime> => {
      const r = await startNodeRuntime({
        dir,
        passphrase: PASS,
        api: false,
        crl: { intervalMs: 1_000 },
        metrics: { listen: { host: '127.0.0.1', port } },
        options: { listen: [`/ip4/127.0.0.${host}/udp/0/quic-v1`], transports: { quic: true, tcp: false }, mdns: { enabled: false }, bootstrap }
      })
      runtimes.push(r)
      return r
    }
    const a = await start(dirA, 41, portA, [])
    await until(async () => await value(`up{instance="${nodeTargets[0]}"}`) === 1, 30_000, 'node A target up')
    expect(await value(`dadm_mesh_auth_results_total{code="OK",instance="${nodeTargets[0]}"}`)).to.equal(0)
    const lonely = await fetch(`${a.metricsUrl}/readyz`)
    expect(lonely.status).to.equal(503)
    expect(((await lonely.json()) as { checks: Array<{ name: string, ok: boolean }> }).checks.find(c => c.name === 'members')?.ok).to.equal(false)

    // 5. Node B joins through A: both count an authenticated handshake, and Prometheus sees it.
    const b = await start(dirB, 42, portB, [a.node.getMultiaddrs()[0].toString()])
    await eventually(() => a.node.isAuthenticated(b.node.peerId) && b.node.isAuthenticated(a.node.peerId), 30_000)
    for (const t of nodeTargets) {
      await until(async () => await value(`dadm_mesh_auth_results_total{code="OK",instance="${t}"}`) >= 1, 20_000, `auth OK counter of ${t} in Prometheus`)
      await until(async () => await value(`dadm_mesh_authenticated_peers{instance="${t}"}`) === 1, 20_000, `authenticated peers of ${t} in Prometheus`)
    }

    // 6. A publishes an anomaly signature; B accepts it; B's accept counter moves in Prometheus.
    const accepted = `dadm_mesh_gossip_messages_total{topic="anomaly",result="accept",instance="${nodeTargets[1]}"}`
    expect(await value(accepted)).to.equal(0)
    const meshOf = (r: NodeRuntime): string[] => (r.node.gossip?.pubsub as unknown as { getMeshPeers(t: string): string[] }).getMeshPeers(ANOMALY_TOPIC)
    await eventually(() => meshOf(a).includes(b.node.peerId.toString()) && meshOf(b).includes(a.node.peerId.toString()), 20_000)
    const got = waitForEvent<AnomalyRecord>(b.node, 'anomaly', r => r.source === 'gossip', 15_000)
    await a.node.publishAnomaly({ type: 'sha256', value: 'cd'.repeat(32) })
    await got
    await until(async () => await value(accepted) === 1, 20_000, 'gossip accept counter of B in Prometheus')
    await until(async () => await value(`gossipsub_msg_publish_count_total{topic="anomaly",instance="${nodeTargets[0]}"}`) >= 1, 20_000, 'gossipsub publish counter of A in Prometheus')

    // 7. Ready now (certificate, CRL from the poll, one member); the CA is ready (key, store).
    await until(async () => (await fetch(`${a.metricsUrl}/readyz`)).status === 200, 20_000, 'node A ready')
    expect((await fetch(`${caOps.url}/readyz`)).status).to.equal(200)
    expect((await fetch(`${a.metricsUrl}/livez`)).status).to.equal(200)
    for (const t of await prom.targets()) { expect(t.health, `${t.scrapeUrl}: ${t.lastError}`).to.equal('up') }

    // 8. The CA revokes B: the CA counts the revoked serial; A's next CRL poll expels B, and
    // Prometheus sees A's revocations-applied counter move and its CRL number follow.
    const crlBefore = await value(`max(dadm_mesh_crl_number{instance="${nodeTargets[0]}"})`)
    const expelled = waitForEvent(a.node, 'peer:revoked', () => true, 15_000)
    await service.revoke({ nodeId: 'prom-b', reason: 'keyCompromise' }, new Date())
    await expelled
    await until(async () => await value('dadm_mesh_ca_revoked_certificates_total') === 1, 20_000, 'CA revoked counter in Prometheus')
    await until(async () => await value(`dadm_mesh_revocations_applied_total{instance="${nodeTargets[0]}"}`) === 1, 20_000, 'revocations applied on A in Prometheus')
    await until(async () => await value(`max(dadm_mesh_crl_number{instance="${nodeTargets[0]}"})`) > crlBefore, 20_000, 'CRL number on A in Prometheus')

    // 9. promtool lints both expositions.
    for (const url of [`${caOps.url}/metrics`, `${a.metricsUrl}/metrics`]) {
      const text = await (await fetch(url)).text()
      const run = await promtoolCheckMetrics(text)
      expect(run.stdout + run.stderr, `${url} (${NEEDS_PROMETHEUS})`).to.equal('')
      expect(run.code).to.equal(0)
    }
  })
})
