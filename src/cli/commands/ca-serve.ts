import { isIP } from 'node:net'
import { hostname } from 'node:os'
import { startCaMeshPublisher } from '../../daemon/ca-mesh-publisher.ts'
import { AdminSocketClient } from '../../enrollment/admin-client.ts'
import { adminSocketPath, startAdminSocket } from '../../enrollment/admin-socket.ts'
import { CaService } from '../../enrollment/ca-service.ts'
import { rateLimitsFromCaConfig } from '../../enrollment/rate-buckets.ts'
import { createServiceLogger } from '../../enrollment/request-log.ts'
import { issueServerTls, scheduleServerTlsRenewal, serverNames } from '../../enrollment/server-cert.ts'
import { createEnrollmentServer } from '../../enrollment/server.ts'
import { KeyStoreError } from '../../identity/errors.ts'
import { resolvePassphrase } from '../../identity/passphrase.ts'
import { EXIT, parse, reportError, required, UsageError } from '../io.ts'
import { busyError, CaBusyError, isStoreLocked } from './ca-admin.ts'
import type { CliIo } from '../io.ts'

export const usage = 'dadm-mesh ca serve --dir DIR --listen HOST:PORT [--server-name NAME]... [--crl-url URL] [--mesh-dir NODEDIR [--mesh-listen MULTIADDR]... [--mesh-bootstrap MULTIADDR]... [--mesh-node-id ID]] [--log-level info] [--passphrase-file F]'

/** Splits HOST:PORT (IPv6 in brackets); port 0 picks a free one. */
export function parseListen (s: string): { host: string, port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(s)
  const port = Number(m?.[3])
  const host = m?.[1] ?? m?.[2]
  if (m == null || host == null || port > 65535 || (m[1] != null && isIP(m[1]) !== 6)) { throw new UsageError(`--listen must be HOST:PORT, e.g. 127.0.0.1:8443 or [::1]:8443, not ${JSON.stringify(s)}`) }
  return { host, port }
}

/**
 * `ca serve`: the enrollment / CA HTTPS service. It holds the CA's LevelDB for as long as it runs
 * and answers the operator commands on `DIR/admin.sock`. Its TLS certificate is issued by the
 * mesh CA at start (key in memory only) and renewed at 2/3 of its life. JSON request logs go to
 * stdout; SIGTERM or SIGINT stops it gracefully (in-flight requests finish, then the store closes).
 */
export async function caServe (args: string[], io: CliIo): Promise<number> {
  const { values } = parse(args, {
    dir: { type: 'string' },
    listen: { type: 'string' },
    'server-name': { type: 'string', multiple: true, default: [] },
    'crl-url': { type: 'string' },
    'mesh-dir': { type: 'string' },
    'mesh-listen': { type: 'string', multiple: true, default: [] },
    'mesh-bootstrap': { type: 'string', multiple: true, default: [] },
    'mesh-node-id': { type: 'string' },
    'log-level': { type: 'string', default: 'info' },
    'passphrase-file': { type: 'string' }
  })
  const dir = required(values.dir, '--dir')
  const { host, port } = parseListen(required(values.listen, '--listen'))
  const meshDir = values['mesh-dir']
  if (meshDir == null && ((values['mesh-listen'] ?? []).length > 0 || (values['mesh-bootstrap'] ?? []).length > 0 || values['mesh-node-id'] != null)) {
    throw new UsageError('--mesh-listen, --mesh-bootstrap and --mesh-node-id need --mesh-dir')
  }
  const now = (): Date => io.now?.() ?? new Date()
  // Made before the service opens: the service writes its event log (tokens, enrollments) through it.
  const logger = createServiceLogger({ level: values['log-level'] ?? 'info', destination: io.stdout as any })
  let service: CaService
  let passphrase: string | undefined
  try {
    if (await AdminSocketClient.connect(dir) != null) {
      throw new CaBusyError('CA_BUSY', `a \`dadm-mesh ca serve\` already runs for ${dir} (it answers on ${adminSocketPath(dir)}); stop it first`)
    }
    // A software CA refuses to open without a passphrase; a PKCS#11 CA needs its PIN instead.
    passphrase = await resolvePassphrase({ env: io.env, passphraseFile: values['passphrase-file'] })
    // The CA's mesh node keeps its keys in encrypted files: it needs a passphrase even for a PKCS#11 CA.
    if (meshDir != null && passphrase == null) { throw new KeyStoreError('NO_PASSPHRASE', '--mesh-dir needs a passphrase (DADM_MESH_PASSPHRASE or --passphrase-file) for the CA mesh node\'s keys') }
    try {
      service = await CaService.open({ dir, passphrase, pkcs11: { env: io.env }, events: logger, ...(values['crl-url'] != null ? { crlUrl: values['crl-url'] } : {}) })
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
    const admin = await startAdminSocket({ dir, ops: service, now })
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
          bootstrap: values['mesh-bootstrap'] ?? []
        },
        log: logger
      })
      cleanups.push(async () => { await publisher.stop() })
      const n = publisher.runtime.node
      io.stderr.write(`dadm-mesh ca serve: mesh node ${publisher.runtime.dir.nodeId} (peer ${n.peerId.toString()}) on ${n.getMultiaddrs().map(String).join(' ')} publishes every revocation\n`)
    }
    io.stderr.write(`dadm-mesh ca serve: listening on ${url}; admin socket ${admin.path}\n`)

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
