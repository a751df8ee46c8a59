import { readdir, readFile } from 'node:fs/promises'
import { isIP } from 'node:net'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { startCaMeshPublisher } from '../../daemon/ca-mesh-publisher.ts'
import { AdminSocketClient } from '../../enrollment/admin-client.ts'
import { adminSocketPath, startAdminSocket } from '../../enrollment/admin-socket.ts'
import { caReadiness, CaMetrics } from '../../enrollment/ca-metrics.ts'
import { CaService } from '../../enrollment/ca-service.ts'
import { rateLimitsFromCaConfig } from '../../enrollment/rate-buckets.ts'
import { createServiceLogger } from '../../enrollment/request-log.ts'
import { issueServerTls, scheduleServerTlsRenewal, serverNames } from '../../enrollment/server-cert.ts'
import { createEnrollmentServer } from '../../enrollment/server.ts'
import { KeyStoreError } from '../../identity/errors.ts'
import { keyFileScryptLogN } from '../../identity/key-file.ts'
import { resolvePassphrase } from '../../identity/passphrase.ts'
import { startOpsServer } from '../../metrics/ops-server.ts'
import { createProcessRegistry } from '../../metrics/registry.ts'
import { EXIT, parseCommand, reportError, required, UsageError } from '../io.ts'
import { logDestination, logOptions } from '../log-options.ts'
import { checkMultiaddrs } from '../multiaddr-flags.ts'
import { CA_SERVE } from '../specs/ca-serve.ts'
import { busyError, CaBusyError, isStoreLocked } from './ca-admin.ts'
import type { CliIo } from '../io.ts'

/** The scrypt cost of the CA's first software key file in DIR/keys, if it has one (a PKCS#11 CA has none). */
async function caKeyScryptLogN (dir: string): Promise<number | undefined> {
  const keys = join(dir, 'keys')
  const names = (await readdir(keys).catch(() => [])).filter(n => n.endsWith('.key')).sort()
  if (names.length === 0) { return undefined }
  const head = await readFile(join(keys, names[0])).catch(() => undefined)
  return head != null ? keyFileScryptLogN(head) : undefined
}

/** Splits HOST:PORT (IPv6 in brackets); port 0 picks a free one. `flag` names the option in the usage error. */
export function parseListen (s: string, flag = '--listen'): { host: string, port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(s)
  const port = Number(m?.[3])
  const host = m?.[1] ?? m?.[2]
  if (m == null || host == null || port > 65535 || (m[1] != null && isIP(m[1]) !== 6)) { throw new UsageError(`${flag} must be HOST:PORT, e.g. 127.0.0.1:8443 or [::1]:8443, not ${JSON.stringify(s)}`) }
  return { host, port }
}

/**
 * `ca serve`: the enrollment / CA HTTPS service. It holds the CA's LevelDB for as long as it runs
 * and answers the operator commands on `DIR/admin.sock`. Its TLS certificate is issued by the
 * mesh CA at start (key in memory only) and renewed at 2/3 of its life. JSON request logs go to
 * stdout; SIGTERM or SIGINT stops it gracefully (in-flight requests finish, then the store closes).
 */
export async function caServe (args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommand(args, CA_SERVE)
  const dir = required(values.dir, '--dir')
  const { host, port } = parseListen(required(values.listen, '--listen'))
  // The CA's mesh node is what makes a revocation reach the mesh in milliseconds rather than at
  // the next CRL poll: on unless the operator says --no-mesh.
  if (values['no-mesh'] === true && (values['mesh-dir'] != null || (values['mesh-listen'] ?? []).length > 0 || (values['mesh-bootstrap'] ?? []).length > 0 || values['mesh-node-id'] != null)) {
    throw new UsageError('--no-mesh cannot go with --mesh-dir, --mesh-listen, --mesh-bootstrap or --mesh-node-id')
  }
  const meshDir = values['no-mesh'] === true ? undefined : values['mesh-dir'] ?? join(dir, 'mesh-node')
  // Checked before anything opens: a bad value exits 2 naming its flag.
  const logging = logOptions(values)
  checkMultiaddrs('--mesh-listen', values['mesh-listen'])
  checkMultiaddrs('--mesh-bootstrap', values['mesh-bootstrap'], { peerId: true })
  const metricsListen = values.metrics != null ? parseListen(values.metrics, '--metrics') : undefined
  const now = (): Date => io.now?.() ?? new Date()
  // One registry for the process: the CA's metrics and its mesh node's.
  const registry = metricsListen != null ? createProcessRegistry() : undefined
  const caMetrics = registry != null ? new CaMetrics(registry) : undefined
  // Made before the service opens: the service writes its event log (tokens, enrollments) through it.
  const logger = createServiceLogger({ level: logging.level, destination: await logDestination(logging.format, io.stdout) as any })
  let service: CaService
  let passphrase: string | undefined
  try {
    if (await AdminSocketClient.connect(dir) != null) {
      throw new CaBusyError('CA_BUSY', `a \`dadm-mesh ca serve\` already runs for ${dir} (it answers on ${adminSocketPath(dir)}); stop it first`)
    }
    // A software CA refuses to open without a passphrase; a PKCS#11 CA needs its PIN instead.
    passphrase = await resolvePassphrase({ env: io.env, passphraseFile: values['passphrase-file'] })
    // The CA's mesh node keeps its keys in encrypted files: it needs a passphrase even for a PKCS#11 CA.
    if (meshDir != null && passphrase == null) { throw new KeyStoreError('NO_PASSPHRASE', `the CA's mesh node (${meshDir}) needs a passphrase for its keys (DADM_MESH_PASSPHRASE or --passphrase-file), or run without it: --no-mesh`) }
    try {
      service = await CaService.open({ dir, passphrase, pkcs11: { env: io.env }, events: caMetrics?.sink(logger) ?? logger, ...(values['crl-url'] != null ? { crlUrl: values['crl-url'] } : {}) })
    } catch (err) {
      throw isStoreLocked(err) ? busyError(dir, err) : err
    }
  } catch (err) {
    return reportError(io, err)
  }
  const cleanups: Array<() => Promise<void>> = [async () => { await service.close() }]
  const shutdown = async (): Promise<void> => {
    for (const c of cleanups.reverse()) { await c().catch(() => {}) }
    cleanups.length = 0
  }
  try {
    caMetrics?.observe(service, () => now().getTime())
    // Read first: a bad ca.json `enrollment.rate_limits` stops the start before anything is issued.
    const rateLimits = rateLimitsFromCaConfig(service.ca.config)
    const names = serverNames(host, values['server-name'] ?? [])
    const tls = await issueServerTls(service.ca, names, now())
    const server = await createEnrollmentServer({ ca: service, config: { tls, clientCaPem: service.ca.rootPem, rateLimits }, now, logger })
    cleanups.push(async () => { await server.close() })
    const { url, port: boundPort } = await server.listen({ host, port })
    // Nodes need a reachable CRL URL: --crl-url, else ca.json's, else this service's own address.
    if (values['crl-url'] == null) {
      const wildcard = host === '0.0.0.0' || host === '::'
      const shown = wildcard ? hostname() : isIP(host) === 6 ? `[${host}]` : host
      service.useCrlUrl(`https://${shown}:${boundPort}/v1/crl`)
    }
    // Expired token records are dead weight (they answer like unknown ones): drop them at start.
    await service.tokens.pruneExpired(now().getTime())
    const renewal = scheduleServerTlsRenewal({
      current: tls,
      renew: async () => issueServerTls(service.ca, names, now()),
      apply: next => { server.setTls(next); logger.info({ serial: next.serialHex }, 'server certificate renewed') },
      now,
      onError: err => { logger.error({ err }, 'server certificate renewal failed') }
    })
    cleanups.push(async () => { renewal.stop() })
    // What `ca status` shows of this process; the mesh part once its node runs.
    let meshStatus: () => Record<string, unknown> | null = () => null
    const status = async (): Promise<Record<string, unknown>> => {
      const crl = await service.ca.store.latestCrl('issuing')
      return {
        url,
        server_names: [...names.dnsNames, ...names.ipAddresses],
        mesh: meshStatus(),
        crl: crl != null ? { number: crl.crlNumber, this_update: new Date(crl.thisUpdate).toISOString(), next_update: new Date(crl.nextUpdate).toISOString() } : null,
        notices: (await service.latestNotices(now())).length,
        certificates_issued: await service.ca.store.countCerts()
      }
    }
    const admin = await startAdminSocket({ dir, ops: service, now, status, ...(passphrase != null ? { passphrase } : {}) })
    cleanups.push(async () => { await admin.close() })
    if (meshDir != null) {
      // Enrolled through this very service: its URL, reached on loopback when it listens on all addresses.
      const self = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : isIP(host) === 6 ? `[${host}]` : host
      const publisher = await startCaMeshPublisher({
        service,
        dir: meshDir,
        passphrase: passphrase as string,
        caUrl: `https://${self}:${boundPort}`,
        ...(values['mesh-node-id'] != null ? { nodeId: values['mesh-node-id'] } : {}),
        options: {
          ...((values['mesh-listen'] ?? []).length > 0 ? { listen: values['mesh-listen'] } : {}),
          bootstrap: values['mesh-bootstrap'] ?? [],
          // Nodes find the CA's node in the bootstrap list the CA hands them at enrollment, so it
          // has no need to announce itself by multicast on every link of the CA's host.
          mdns: { enabled: false }
        },
        // The CA's node needs no member to be ready; only the CA's own checks gate /readyz.
        ...(registry != null ? { metrics: { registry, readiness: { minMembers: 0 } } } : {}),
        log: logger,
        // The mesh node's key files take the scrypt cost of the CA's own (same passphrase, same owner).
        ...(await caKeyScryptLogN(dir).then(n => n != null ? { scryptLogN: n } : {}))
      })
      cleanups.push(async () => { await publisher.stop() })
      const n = publisher.runtime.node
      // Nodes that enroll from now on list the CA's node as a bootstrap peer, so its pushes reach them.
      service.useMeshPeers(() => n.getMultiaddrs().map(String))
      meshStatus = () => ({ node_id: publisher.runtime.dir.nodeId, peer_id: n.peerId.toString(), addrs: n.getMultiaddrs().map(String), authenticated_peers: n.auth.authenticatedConnections().length })
      if (values.json !== true) { io.stderr.write(`dadm-mesh ca serve: mesh node ${publisher.runtime.dir.nodeId} (peer ${n.peerId.toString()}) on ${n.getMultiaddrs().map(String).join(' ')} pushes every revocation and notice (push on; --no-mesh turns it off)\n`) }
    } else if (values.json !== true) {
      io.stderr.write('dadm-mesh ca serve: no mesh node (--no-mesh): revocations reach nodes at their CRL poll (60s by default), notices at their notice poll (5m)\n')
    }
    let metricsUrl: string | undefined
    if (registry != null && metricsListen != null) {
      const ops = await startOpsServer({ registry, readiness: () => caReadiness(service) }, metricsListen)
      cleanups.push(async () => { await ops.close() })
      metricsUrl = ops.url
      if (values.json !== true) { io.stderr.write(`dadm-mesh ca serve: metrics and health on ${metricsUrl} (/metrics, /livez, /readyz)\n`) }
    }
    if (values.json !== true) { io.stderr.write(`dadm-mesh ca serve: service certificate names: ${[...names.dnsNames, ...names.ipAddresses].join(', ')} (add the names nodes enroll by with --server-name, e.g. --server-name ca.example.net --server-name 203.0.113.7)\n`) }
    io.stderr.write(values.json
      ? JSON.stringify({ event: 'listening', command: 'ca serve', url, admin_socket: admin.path, server_names: [...names.dnsNames, ...names.ipAddresses], metrics_url: metricsUrl ?? null }) + '\n'
      : `dadm-mesh ca serve: listening on ${url}; admin socket ${admin.path}\n`)

    const signal = await new Promise<string>(resolve => {
      const onTerm = (): void => { done('SIGTERM') }
      const onInt = (): void => { done('SIGINT') }
      const done = (s: string): void => {
        process.off('SIGTERM', onTerm)
        process.off('SIGINT', onInt)
        resolve(s)
      }
      process.on('SIGTERM', onTerm)
      process.on('SIGINT', onInt)
    })
    io.stderr.write(`dadm-mesh ca serve: ${signal}, stopping\n`)
    await shutdown()
    io.stderr.write('dadm-mesh ca serve: stopped\n')
    return EXIT.OK
  } catch (err) {
    await shutdown()
    return reportError(io, err)
  }
}
