import { createPrivateKey } from 'node:crypto'
import { isIP } from 'node:net'
import { hostname } from 'node:os'
import { createCsr } from '../ca/csr-builder.ts'
import { isDnsName } from '../ca/csr-policy.ts'
import { generatePkcs8, softwareKeyFromPkcs8 } from '../identity/software-key.ts'
import type { MeshCa } from '../ca/index.ts'

/** The service's TLS identity: certificate chain (leaf first) and key, PEM, and when it expires. */
export interface ServerTls {
  certPem: string
  keyPem: string
  serialHex: string
  notBefore: number
  notAfter: number
}

/**
 * Names the service certificate carries: the listen host unless it is a wildcard, plus the
 * loopback names and this host's name, so `https://127.0.0.1:PORT` and `https://HOSTNAME:PORT`
 * both pass the client's name check. Operators add names with `--server-name`.
 */
export function serverNames (listenHost: string, extra: string[] = []): { dnsNames: string[], ipAddresses: string[] } {
  const dns = new Set<string>(['localhost'])
  const ips = new Set<string>(['127.0.0.1', '::1'])
  const add = (n: string): void => {
    const name = n.replace(/^\[|\]$/g, '')
    if (isIP(name) !== 0) {
      if (name !== '0.0.0.0' && name !== '::') { ips.add(name) }
    } else if (isDnsName(name.toLowerCase())) {
      dns.add(name.toLowerCase())
    }
  }
  add(listenHost)
  add(hostname())
  for (const n of extra) { add(n) }
  return { dnsNames: [...dns], ipAddresses: [...ips] }
}

/**
 * Issues the service's own TLS certificate from the mesh CA (server profile: serverAuth, DNS/IP
 * SANs). The key is a fresh P-256 key that lives only in this process's memory: it is never
 * written, and a restart simply issues a new certificate.
 */
export async function issueServerTls (ca: MeshCa, names: { dnsNames: string[], ipAddresses: string[] }, now: Date, validitySeconds?: number): Promise<ServerTls> {
  const pkcs8 = await generatePkcs8('P-256')
  try {
    const key = await softwareKeyFromPkcs8('ca-server', 'P-256', pkcs8, false)
    const csr = await createCsr(key, { dnsNames: names.dnsNames, ipAddresses: names.ipAddresses })
    const issued = await ca.issue({ csr, now, profile: 'server', dnsNames: names.dnsNames, ipAddresses: names.ipAddresses, ...(validitySeconds != null ? { validitySeconds } : {}) })
    const keyPem = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' }) as string
    return { certPem: issued.pem + issued.chainPem, keyPem, serialHex: issued.serialHex, notBefore: issued.notBefore, notAfter: issued.notAfter }
  } finally {
    pkcs8.fill(0)
  }
}

/**
 * Renews the service certificate at 2/3 of its lifetime (the same point nodes rotate at, DESIGN.md
 * "Rotate") and hands the new one to `apply`. The timer is unref'd: it never keeps a process alive.
 */
export function scheduleServerTlsRenewal (options: {
  current: ServerTls
  renew(): Promise<ServerTls>
  apply(tls: ServerTls): void
  now(): Date
  onError(err: unknown): void
}): { stop(): void } {
  let timer: NodeJS.Timeout | undefined
  let stopped = false
  const arm = (tls: ServerTls): void => {
    const due = tls.notBefore + (tls.notAfter - tls.notBefore) * 2 / 3
    // setTimeout holds at most 2^31-1 ms; re-arm in steps for longer lifetimes.
    const delay = Math.min(Math.max(1000, due - options.now().getTime()), 2 ** 31 - 1)
    timer = setTimeout(() => {
      if (stopped) { return }
      if (options.now().getTime() < due) { arm(tls); return }
      options.renew().then(next => {
        if (stopped) { return }
        options.apply(next)
        arm(next)
      }, err => {
        options.onError(err)
        // Try again in a minute; the old certificate still has a third of its life.
        if (!stopped) { timer = setTimeout(() => { arm(tls) }, 60_000).unref() }
      })
    }, delay).unref()
  }
  arm(options.current)
  return {
    stop () {
      stopped = true
      if (timer != null) { clearTimeout(timer) }
    }
  }
}
