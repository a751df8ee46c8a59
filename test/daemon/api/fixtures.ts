import { createServer, request } from 'node:https'
import { adminCsr } from '../../enrollment/harness.ts'
import { NOW } from '../../node/fixtures.ts'
import type { TestCa } from '../../node/fixtures.ts'

/** An admin certificate (`urn:dadm:admin:<name>`) from `tca`, with its key, PEM. */
export async function adminCredential (tca: TestCa, name = 'ops'): Promise<{ certPem: string, keyPem: string, serialHex: string }> {
  const csr = await adminCsr(name)
  const issued = await tca.ca.issue({ csr: csr.csrPem, now: new Date(NOW - 3600_000), profile: 'admin', adminName: name })
  return { certPem: issued.pem + issued.chainPem, keyPem: csr.keyPem, serialHex: issued.serialHex }
}

/** A GET with no server check at all (the suite judges only the server's answer), with or without a client certificate. */
export async function rawGet (url: string, path: string, cred?: { certPem: string, keyPem: string }): Promise<{ status: number, json: any }> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, url), {
      rejectUnauthorized: false,
      agent: false,
      minVersion: 'TLSv1.3',
      signal: AbortSignal.timeout(10_000),
      ...(cred != null ? { cert: cred.certPem, key: cred.keyPem } : {})
    }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => { chunks.push(c) })
      res.on('end', () => {
        let json: any
        try { json = JSON.parse(Buffer.concat(chunks).toString('utf8')) } catch {}
        resolve({ status: res.statusCode ?? 0, json })
      })
    })
    req.on('error', reject)
    req.end()
  })
}

/** An HTTPS server that presents `cred` and answers every request with `body` (an impostor node API). */
export async function impostor (cred: { certPem: string, keyPem: string }, body: unknown): Promise<{ url: string, close(): Promise<void> }> {
  const server = createServer({ cert: cred.certPem, key: cred.keyPem, minVersion: 'TLSv1.3' }, (_req, res) => {
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify(body))
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  return {
    url: `https://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>(resolve => server.close(() => { resolve() }))
    }
  }
}
