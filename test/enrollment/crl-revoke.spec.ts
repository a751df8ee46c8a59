import { connect } from 'node:tls'
import { expect } from 'aegir/chai'
import { parseCrl } from '../../src/pki/crl.ts'
import { pemToDer } from '../../src/util/pem.ts'
import { adminCred, call, enrollVia, nodeCsr, startService } from './harness.ts'
import type { Service } from './harness.ts'

function expectError (r: { status: number, json: any }, status: number, code: string): void {
  expect(r.status, JSON.stringify(r.json)).to.equal(status)
  expect(r.json.error.code).to.equal(code)
}

const revokedSerials = (der: Uint8Array): string[] => [...parseCrl(der).revoked.keys()]

describe('enrollment service: GET /v1/crl', () => {
  let svc: Service
  before(async () => { svc = await startService() })
  after(async () => { await svc.cleanup() })

  it('serves the signed CRL as DER by default, with ETag and Cache-Control', async () => {
    const r = await call(svc, 'GET', '/v1/crl')
    expect(r.status).to.equal(200)
    expect(r.headers['content-type']).to.equal('application/pkix-crl')
    expect(r.headers.etag).to.match(/^"[A-Za-z0-9_-]{22}"$/)
    expect(r.headers['cache-control']).to.match(/^public, max-age=\d+, no-transform$/)
    expect(Number(/max-age=(\d+)/.exec(r.headers['cache-control'] ?? '')?.[1])).to.be.greaterThan(0).and.at.most(60)
    const crl = parseCrl(new Uint8Array(r.body))
    expect(crl.crlNumber).to.be.a('bigint')
  })

  it('a conditional request with the current ETag gets 304 and no body', async () => {
    const first = await call(svc, 'GET', '/v1/crl')
    const r = await call(svc, 'GET', '/v1/crl', undefined, { headers: { 'if-none-match': first.headers.etag as string } })
    expect(r.status).to.equal(304)
    expect(r.body.length).to.equal(0)
    expect(r.headers.etag).to.equal(first.headers.etag)
  })

  it('serves PEM when the Accept header asks for it, under its own ETag', async () => {
    const der = await call(svc, 'GET', '/v1/crl')
    const r = await call(svc, 'GET', '/v1/crl', undefined, { headers: { accept: 'application/x-pem-file' } })
    expect(r.status).to.equal(200)
    expect(r.headers['content-type']).to.equal('application/x-pem-file')
    expect(r.headers.vary).to.equal('Accept')
    expect(r.headers.etag).to.not.equal(der.headers.etag)
    expect(Buffer.from(pemToDer(r.body.toString(), 'X509 CRL')).equals(der.body)).to.equal(true)
  })

  it('serves the root\'s CRL (revoked intermediates) with ?scope=root; an unknown scope is 400', async () => {
    const r = await call(svc, 'GET', '/v1/crl?scope=root')
    expect(r.status).to.equal(200)
    const crl = parseCrl(new Uint8Array(r.body))
    expect(Buffer.from(crl.issuer.der).equals(Buffer.from(svc.ca.rootCertificate.subject.der))).to.equal(true)
    expectError(await call(svc, 'GET', '/v1/crl?scope=bogus'), 400, 'INVALID_REQUEST')
  })

  it('a stale ETag gets the new CRL after a revocation', async () => {
    const old = await call(svc, 'GET', '/v1/crl')
    const node = await enrollVia(svc, 'crl-node')
    await svc.service.revoke({ serialHex: node.serial }, svc.clock.now())
    const r = await call(svc, 'GET', '/v1/crl', undefined, { headers: { 'if-none-match': old.headers.etag as string } })
    expect(r.status).to.equal(200)
    expect(revokedSerials(new Uint8Array(r.body))).to.include(node.serial)
  })
})

describe('enrollment service: POST /v1/revoke (admin mutual TLS)', () => {
  let svc: Service
  before(async () => { svc = await startService() })
  after(async () => { await svc.cleanup() })

  it('revokes a serial with an admin certificate: 204, and the CRL served next lists it', async () => {
    const admin = await adminCred(svc)
    const node = await enrollVia(svc, 'rv-1')
    const before = await call(svc, 'GET', '/v1/crl')
    const r = await call(svc, 'POST', '/v1/revoke', { serial: node.serial, reason: 'keyCompromise' }, { client: admin })
    expect(r.status).to.equal(204)
    expect(r.body.length).to.equal(0)
    const after = await call(svc, 'GET', '/v1/crl')
    expect(after.headers.etag).to.not.equal(before.headers.etag)
    const crl = parseCrl(new Uint8Array(after.body))
    expect((crl.crlNumber ?? 0n) > (parseCrl(new Uint8Array(before.body)).crlNumber ?? 0n)).to.equal(true)
    const entry = crl.revoked.get(node.serial)
    expect(entry?.reason).to.equal('keyCompromise')
  })

  it('revokes every certificate of a node_id and blocks it', async () => {
    const admin = await adminCred(svc)
    const a = await enrollVia(svc, 'rv-2')
    // A second certificate of the node_id: its rotation (a second enrollment would be NODE_ID_TAKEN).
    const rotated = await call(svc, 'POST', '/v1/rotate', { csr: (await nodeCsr('rv-2')).csrPem, current_cert_serial: a.serial }, { client: a })
    expect(rotated.status, rotated.body.toString()).to.equal(200)
    const b = { serial: rotated.json.serial as string }
    const r = await call(svc, 'POST', '/v1/revoke', { node_id: 'rv-2' }, { client: admin })
    expect(r.status).to.equal(204)
    const listed = revokedSerials(new Uint8Array((await call(svc, 'GET', '/v1/crl')).body))
    expect(listed).to.include.members([a.serial, b.serial])
    expect(await svc.ca.isNodeRevoked('rv-2')).to.equal(true)
  })

  it('without a client certificate is 401 CLIENT_CERT_REQUIRED and nothing is revoked', async () => {
    const node = await enrollVia(svc, 'rv-3')
    const r = await call(svc, 'POST', '/v1/revoke', { serial: node.serial })
    expectError(r, 401, 'CLIENT_CERT_REQUIRED')
    expect(await svc.ca.store.getRevocation(node.serial)).to.equal(undefined)
  })

  it('with a node certificate is 401 CLIENT_CERT_WRONG_ROLE and nothing is revoked', async () => {
    const node = await enrollVia(svc, 'rv-4')
    const r = await call(svc, 'POST', '/v1/revoke', { serial: node.serial }, { client: node })
    expectError(r, 401, 'CLIENT_CERT_WRONG_ROLE')
    expect(await svc.ca.store.getRevocation(node.serial)).to.equal(undefined)
  })

  it('with a revoked admin certificate is 401 CLIENT_CERT_INVALID', async () => {
    const admin = await adminCred(svc, 'former-ops')
    await svc.service.revoke({ serialHex: admin.serial }, svc.clock.now())
    const node = await enrollVia(svc, 'rv-5')
    expectError(await call(svc, 'POST', '/v1/revoke', { serial: node.serial }, { client: admin }), 401, 'CLIENT_CERT_INVALID')
    expect(await svc.ca.store.getRevocation(node.serial)).to.equal(undefined)
  })

  it('an unknown serial is 404 UNKNOWN_SERIAL', async () => {
    expectError(await call(svc, 'POST', '/v1/revoke', { serial: '7f' + '00'.repeat(15) }, { client: await adminCred(svc) }), 404, 'UNKNOWN_SERIAL')
  })

  it('both serial and node_id is 400 INVALID_REVOKE_TARGET', async () => {
    expectError(await call(svc, 'POST', '/v1/revoke', { serial: 'ab', node_id: 'x' }, { client: await adminCred(svc) }), 400, 'INVALID_REVOKE_TARGET')
  })

  it('an unknown reason is 400 INVALID_REQUEST', async () => {
    expectError(await call(svc, 'POST', '/v1/revoke', { serial: 'ab', reason: 'because' }, { client: await adminCred(svc) }), 400, 'INVALID_REQUEST')
  })
})

describe('enrollment service: OpenAPI and logs', () => {
  let svc: Service
  before(async () => { svc = await startService() })
  after(async () => { await svc.cleanup() })

  it('serves an OpenAPI 3 document describing every route', async () => {
    const r = await call(svc, 'GET', '/v1/openapi.json')
    expect(r.status).to.equal(200)
    expect(r.json.openapi).to.match(/^3\./)
    expect(r.json.paths).to.include.keys('/v1/enroll', '/v1/rotate', '/v1/crl', '/v1/revoke')
    const enroll = r.json.paths['/v1/enroll'].post
    expect(enroll.requestBody.content['application/json'].schema.required).to.include.members(['token', 'csr'])
    expect(enroll.responses).to.include.keys('200', '400', '401', '403', '413', '429')
  })

  it('unparseable HTTP gets a catalogue body too (400 INVALID_REQUEST), never a stack', async () => {
    const port = Number(new URL(svc.url).port)
    const raw = await new Promise<string>((resolve, reject) => {
      const sock = connect({ host: '127.0.0.1', port, ca: svc.rootPem, servername: 'localhost' }, () => { sock.write('NOT HTTP AT ALL\r\n\r\n') })
      let text = ''
      sock.on('data', (c: Buffer) => { text += c.toString() })
      sock.on('end', () => { resolve(text) })
      sock.on('error', reject)
      sock.setTimeout(10_000, () => { sock.destroy(new Error('no answer')) })
    })
    expect(raw).to.match(/^HTTP\/1\.1 400 /)
    const body = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4))
    expect(body).to.deep.equal({ error: { code: 'INVALID_REQUEST', message: body.error.message } })
  })

  it('logs one JSON line per request, with no token, CSR or key in it', async () => {
    const { token } = await svc.service.createToken({ ttlMs: 60_000, uses: 1 }, svc.clock.now())
    const start = svc.logs.length
    const node = await enrollVia(svc, 'log-node')
    await call(svc, 'POST', '/v1/enroll', { token, csr: 'x' })
    await call(svc, 'GET', '/v1/crl')
    const lines = svc.logs.slice(start)
    // enrollVia: 1 request; then 2 more.
    expect(lines).to.have.length(3)
    for (const line of lines) {
      const l = JSON.parse(line)
      expect(l.msg).to.equal('request')
      expect(l).to.include.keys('method', 'route', 'status', 'ms', 'reqId')
    }
    const all = lines.join('\n')
    expect(all).to.not.include(token)
    expect(all).to.not.include('BEGIN')
    expect(all).to.not.include(node.keyPem.split('\n')[1])
    expect(JSON.parse(lines[0]).node_id).to.equal('log-node')
    expect(JSON.parse(lines[1]).code).to.equal('INVALID_CSR')
  })
})
