import { request as httpRequest } from 'node:http'
import { MeshError } from '../errors.ts'
import { adminSocketPath } from './admin-socket.ts'
import { EnrollmentError, isEnrollmentErrorCode } from './errors.ts'
import type { CaAdminOps, CreatedToken, NoticeDelivery } from './types.ts'
import type { BackupResult } from '../ca/backup.ts'
import type { CertListing, NodeListing } from '../ca/inventory.ts'
import type { RevocationReason } from '../pki/revocation-reasons.ts'

/** Deadline for one admin request; signing or building a CRL takes milliseconds. */
const ADMIN_TIMEOUT_MS = 30_000
/** Largest admin response we read (a CRL of many thousand entries in PEM fits). */
const MAX_ADMIN_RESPONSE = 16 * 1024 * 1024

/** Raised when nothing answers on the admin socket (absent, stale, or wrong peer). */
export class AdminSocketUnavailable extends MeshError<'ADMIN_SOCKET_UNAVAILABLE'> {
  static name = 'AdminSocketUnavailable'
}

/** Sends one JSON request over the Unix socket and returns the parsed JSON reply. */
/** The service's account of a notice; an older service that gives none only stored it. */
function deliveryOf (d: any): NoticeDelivery {
  if (d?.via === 'mesh' && Number.isSafeInteger(d.peers) && Number.isSafeInteger(d.accepted)) { return { via: 'mesh', peers: d.peers, accepted: d.accepted, gossiped: d.gossiped === true } }
  if (d?.via === 'refused' && typeof d.code === 'string') { return { via: 'refused', code: d.code.slice(0, 64) } }
  return { via: 'poll' }
}

async function call (socketPath: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<any> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      socketPath,
      method,
      path,
      headers: payload == null ? {} : { 'content-type': 'application/json', 'content-length': payload.length },
      timeout: ADMIN_TIMEOUT_MS
    }, res => {
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (c: Buffer) => {
        size += c.length
        if (size > MAX_ADMIN_RESPONSE) { req.destroy(new Error('admin response too large')); return }
        chunks.push(c)
      })
      res.on('error', reject)
      res.on('end', () => {
        let json: any
        try {
          json = JSON.parse(Buffer.concat(chunks).toString('utf8'))
        } catch (err) {
          reject(new Error('the admin socket answered with something other than JSON', { cause: err })); return
        }
        if ((res.statusCode ?? 500) >= 400) {
          const code = json?.error?.code
          reject(isEnrollmentErrorCode(code) ? new EnrollmentError(code) : new EnrollmentError('INTERNAL'))
          return
        }
        resolve(json)
      })
    })
    req.on('timeout', () => req.destroy(new Error(`admin socket did not answer within ${ADMIN_TIMEOUT_MS} ms`)))
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED' || err.code === 'ENOTSOCK') {
        reject(new AdminSocketUnavailable('ADMIN_SOCKET_UNAVAILABLE', `no CA service answers on ${socketPath}`, { cause: err }))
      } else {
        reject(err)
      }
    })
    req.end(payload)
  })
}

/** `CaAdminOps` carried out by the running `ca serve` over its admin socket. */
export class AdminSocketClient implements CaAdminOps {
  readonly socketPath: string

  constructor (socketPath: string) {
    this.socketPath = socketPath
  }

  /** A client for the service of the CA in `dir`, or undefined when no service answers. */
  static async connect (dir: string): Promise<AdminSocketClient | undefined> {
    const client = new AdminSocketClient(adminSocketPath(dir))
    try {
      await call(client.socketPath, 'GET', '/v1/admin/status')
      return client
    } catch (err) {
      if (err instanceof AdminSocketUnavailable) { return undefined }
      throw err
    }
  }

  async createToken (req: { nodeId?: string, ttlMs: number, uses: number, replace?: boolean, roles?: string[] }): Promise<CreatedToken> {
    const r = await call(this.socketPath, 'POST', '/v1/admin/token', { ttl_ms: req.ttlMs, uses: req.uses, ...(req.nodeId != null ? { node_id: req.nodeId } : {}), ...(req.replace === true ? { replace: true } : {}), ...(req.roles != null && req.roles.length > 0 ? { roles: req.roles } : {}) })
    return { token: r.token, tokenId: r.token_id, expiresAt: r.expires_at, uses: r.uses, roles: Array.isArray(r.roles) ? r.roles : [], ...(r.node_id != null ? { nodeId: r.node_id } : {}), ...(r.replace === true ? { replace: true } : {}) }
  }

  async revoke (req: { serialHex?: string, nodeId?: string, reason?: RevocationReason, blockUnknown?: boolean }): Promise<{ serials: string[] }> {
    const r = await call(this.socketPath, 'POST', '/v1/admin/revoke', {
      ...(req.serialHex != null ? { serial: req.serialHex } : {}),
      ...(req.nodeId != null ? { node_id: req.nodeId } : {}),
      ...(req.reason != null ? { reason: req.reason } : {}),
      ...(req.blockUnknown === true ? { block_unknown: true } : {})
    })
    return { serials: r.serials }
  }

  async crlPem (_now?: Date, scope: 'issuing' | 'root' = 'issuing'): Promise<string> {
    return (await call(this.socketPath, 'GET', `/v1/admin/crl?scope=${scope}`)).pem
  }

  async issueAdminCert (req: { csrPem: string, name: string, validitySeconds?: number }): Promise<{ certificatePem: string, chainPem: string, caCertPem: string, serialHex: string, notAfter: number }> {
    const r = await call(this.socketPath, 'POST', '/v1/admin/admin-cert', { csr: req.csrPem, name: req.name, ...(req.validitySeconds != null ? { validity_seconds: req.validitySeconds } : {}) })
    return { certificatePem: r.certificate, chainPem: r.chain, caCertPem: r.ca_cert, serialHex: r.serial, notAfter: r.not_after }
  }

  /** The running service's own account of itself (`ca status`). */
  async status (): Promise<Record<string, unknown>> {
    return await call(this.socketPath, 'GET', '/v1/admin/status') as Record<string, unknown>
  }

  /** Whether `passphrase` is the one the service opened the CA with; null when it runs without one (PKCS#11 CA, no mesh node). */
  async checkPassphrase (passphrase: string): Promise<boolean | null> {
    const r = await call(this.socketPath, 'POST', '/v1/admin/check-passphrase', { passphrase })
    return typeof r.match === 'boolean' ? r.match : null
  }

  async issueForOperator (req: { csrPem: string, profile: 'node' | 'admin' | 'server', validitySeconds?: number, nodeId?: string, dnsNames?: string[], ipAddresses?: string[] }): Promise<{ pem: string, serialHex: string, subject: string, notAfter: number }> {
    const r = await call(this.socketPath, 'POST', '/v1/admin/issue', {
      csr: req.csrPem,
      profile: req.profile,
      ...(req.validitySeconds != null ? { validity_seconds: req.validitySeconds } : {}),
      ...(req.nodeId != null ? { node_id: req.nodeId } : {}),
      ...(req.dnsNames != null ? { dns: req.dnsNames } : {}),
      ...(req.ipAddresses != null ? { ip: req.ipAddresses } : {})
    })
    return { pem: r.pem, serialHex: r.serial, subject: r.subject, notAfter: r.not_after }
  }

  async rotateNow (req: { targets?: string[], ttlMs?: number }): Promise<Uint8Array> {
    return (await this.rotateNowReport(req)).notice
  }

  /** `rotateNow`, with what the service did with the notice (pushed on the mesh, or left for the poll). */
  async rotateNowReport (req: { targets?: string[], ttlMs?: number }): Promise<{ notice: Uint8Array, delivery: NoticeDelivery }> {
    const r = await call(this.socketPath, 'POST', '/v1/admin/rotate-now', { ...(req.targets != null && req.targets.length > 0 ? { node_ids: req.targets } : {}), ...(req.ttlMs != null ? { ttl_ms: req.ttlMs } : {}) })
    return { notice: new Uint8Array(Buffer.from(r.notice, 'base64')), delivery: deliveryOf(r.delivery) }
  }

  async trustBundle (req: { rootsPem: string, casPem?: string, ttlMs?: number }): Promise<Uint8Array> {
    return (await this.trustBundleReport(req)).notice
  }

  async trustBundleReport (req: { rootsPem: string, casPem?: string, ttlMs?: number }): Promise<{ notice: Uint8Array, delivery: NoticeDelivery }> {
    const r = await call(this.socketPath, 'POST', '/v1/admin/trust-bundle', { roots_pem: req.rootsPem, ...(req.casPem != null ? { cas_pem: req.casPem } : {}), ...(req.ttlMs != null ? { ttl_ms: req.ttlMs } : {}) })
    return { notice: new Uint8Array(Buffer.from(r.notice, 'base64')), delivery: deliveryOf(r.delivery) }
  }

  async clearNodeRevocation (nodeId: string): Promise<boolean> {
    return (await call(this.socketPath, 'POST', '/v1/admin/clear-revocation', { node_id: nodeId })).cleared
  }

  async listCerts (req: { nodeId?: string }): Promise<CertListing> {
    return call(this.socketPath, 'GET', `/v1/admin/certs${req.nodeId != null ? `?node_id=${encodeURIComponent(req.nodeId)}` : ''}`)
  }

  async listNodes (): Promise<NodeListing> {
    return call(this.socketPath, 'GET', '/v1/admin/nodes')
  }

  /** `out` must be absolute: the service resolves nothing against its own working directory. */
  async backup (req: { out: string }): Promise<BackupResult> {
    return call(this.socketPath, 'POST', '/v1/admin/backup', { out: req.out })
  }

  /** The service names the local operator itself (`local-admin-socket`): `by` is not sent. */
  async unblockNode (req: { nodeId: string }): Promise<void> {
    await call(this.socketPath, 'POST', '/v1/admin/unblock', { node_id: req.nodeId })
  }
}
