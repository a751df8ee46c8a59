import 'reflect-metadata'
import { spawnSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import * as x509 from '@peculiar/x509'
import { expect } from 'aegir/chai'
import { createCsr } from '../../src/ca/index.ts'
import { rolesExtension } from '../../src/ca/roles-build.ts'
import { generatePkcs8, softwareKeyFromPkcs8 } from '../../src/identity/software-key.ts'
import { parseCertificate } from '../../src/pki/certificate.ts'
import { NODE_URI_PREFIX, PEER_URI_PREFIX } from '../../src/pki/node-identity.ts'
import { ROLES_OID, rolesOf } from '../../src/pki/roles-extension.ts'
import { NOW, rejects, tempCa } from './helpers.ts'

const hasOpenssl = spawnSync('openssl', ['version']).status === 0

async function nodeKey (): Promise<{ handle: Awaited<ReturnType<typeof softwareKeyFromPkcs8>>, peerId: string }> {
  const handle = await softwareKeyFromPkcs8('test', 'P-256', await generatePkcs8('P-256'), false)
  return { handle, peerId: peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString() }
}

/**
 * The CA side of roles: issue() puts the roles it is given (from a token or a certificate being
 * replaced) into a non-critical extension, records them, and never takes any from the CSR.
 */
describe('CA: roles in node certificates', () => {
  let t: Awaited<ReturnType<typeof tempCa>>
  before(async () => { t = await tempCa() })
  after(async () => { await t.cleanup() })

  async function csrFor (nodeId: string): Promise<Uint8Array> {
    const k = await nodeKey()
    return createCsr(k.handle, { nodeId, peerId: k.peerId })
  }

  it('issues a node certificate with exactly the given roles, sorted, in a non-critical extension, and records them', async () => {
    const issued = await t.ca.issue({ csr: await csrFor('r-1'), now: NOW, roles: ['relay', 'gateway'] })
    const cert = parseCertificate(issued.der)
    expect(cert.extensions.get(ROLES_OID)?.critical).to.equal(false)
    expect(rolesOf(cert)).to.deep.equal(['gateway', 'relay'])
    expect(issued.roles).to.deep.equal(['gateway', 'relay'])
    expect((await t.ca.getCertificate(issued.serialHex))?.roles).to.deep.equal(['gateway', 'relay'])
  })

  it('without roles the certificate carries no roles extension and the record none', async () => {
    const issued = await t.ca.issue({ csr: await csrFor('r-2'), now: NOW })
    expect(parseCertificate(issued.der).extensions.has(ROLES_OID)).to.equal(false)
    expect((await t.ca.getCertificate(issued.serialHex))?.roles).to.equal(undefined)
  })

  it('bad role names or a 17th role are BAD_PROFILE_INPUT and nothing is signed or stored', async () => {
    const before = await t.ca.store.countCerts()
    for (const roles of [['Admin'], ['ok', 'bad_name'], Array.from({ length: 17 }, (_, i) => `r${i}`)]) {
      const err = await rejects(t.ca.issue({ csr: await csrFor('r-3'), now: NOW, roles }))
      expect(err, JSON.stringify(roles)).to.include({ name: 'IssuanceError', code: 'BAD_PROFILE_INPUT' })
    }
    expect(await t.ca.store.countCerts()).to.equal(before)
  })

  it('a CSR that requests the roles extension gets no roles: the CA never copies requested extensions', async () => {
    const k = await nodeKey()
    const signer = k.handle.signer()
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: 'CN=r-4',
      keys: { privateKey: signer.privateKey, publicKey: signer.publicKey },
      signingAlgorithm: signer.signingAlgorithm,
      extensions: [
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: NODE_URI_PREFIX + 'r-4' }, { type: 'url', value: PEER_URI_PREFIX + k.peerId }], false),
        rolesExtension(['admin'])
      ]
    }, signer.crypto)
    const der = new Uint8Array(csr.rawData)
    const plain = await t.ca.issue({ csr: der, now: NOW })
    expect(parseCertificate(plain.der).extensions.has(ROLES_OID)).to.equal(false)
    // With roles from the CA, the certificate carries the CA's roles only.
    const withRoles = await t.ca.issue({ csr: der, now: NOW, roles: ['sensor'] })
    expect(rolesOf(parseCertificate(withRoles.der))).to.deep.equal(['sensor'])
  })

  it('admin and server certificates never carry roles', async () => {
    const k = await nodeKey()
    const issued = await t.ca.issue({ csr: await createCsr(k.handle, { adminName: 'ops' }), now: NOW, profile: 'admin', adminName: 'ops', roles: ['gateway'] })
    expect(parseCertificate(issued.der).extensions.has(ROLES_OID)).to.equal(false)
  })

  it('openssl x509 -text prints the certificate with the roles extension (non-critical, the role names)', async function () {
    // Rule: this test asks the real openssl binary; without it there is nothing to ask.
    if (!hasOpenssl) { this.skip() }
    const issued = await t.ca.issue({ csr: await csrFor('r-5'), now: NOW, roles: ['gateway', 'relay'] })
    const work = await mkdtemp(join(tmpdir(), 'dadm-roles-'))
    try {
      await writeFile(join(work, 'leaf.pem'), issued.pem)
      const r = spawnSync('openssl', ['x509', '-in', join(work, 'leaf.pem'), '-noout', '-text'], { encoding: 'utf8' })
      expect(r.status, r.stderr).to.equal(0)
      // openssl names an unknown extension by its OID; "critical" would follow the colon if it were.
      expect(r.stdout).to.match(/\n\s*1\.3\.6\.1\.4\.1\.32473\.77\.1\.2:\s*\n/)
      expect(r.stdout).to.include('gateway').and.to.include('relay')
    } finally {
      await rm(work, { recursive: true, force: true })
    }
  })
})
