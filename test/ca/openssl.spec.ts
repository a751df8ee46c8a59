import { spawnSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { createCsr } from '../../src/ca/index.ts'
import { MIN_SCRYPT_LOG_N } from '../../src/identity/key-file.ts'
import { peerIdFromEd25519Spki } from '../../src/identity/peer-id.ts'
import { SoftwareKeyStore } from '../../src/identity/software-key-store.ts'
import { derToPem } from '../../src/util/pem.ts'
import { NOW, tempCa } from './helpers.ts'
import type { MeshCa } from '../../src/ca/index.ts'

/** OpenSSL 3 must agree with us about what our CA issues, revokes and signs. */

function openssl (args: string[]): { status: number, out: string } {
  const r = spawnSync('openssl', args, { encoding: 'utf8' })
  return { status: r.status ?? -1, out: `${r.stdout ?? ''}${r.stderr ?? ''}` }
}

const hasOpenssl = spawnSync('openssl', ['version']).status === 0
// Check certificates at a fixed instant inside their 24 h life, whatever the machine clock says.
const AT = String(Math.floor(NOW.getTime() / 1000) + 600)

for (const variant of [{ keyAlgorithm: 'P-256' as const, intermediate: true }, { keyAlgorithm: 'Ed25519' as const, intermediate: false }]) {
  describe(`OpenSSL agrees with the mesh CA (${variant.keyAlgorithm}, ${variant.intermediate ? 'with' : 'without'} intermediate)`, function () {
    let t: Awaited<ReturnType<typeof tempCa>>
    let work: string
    let nodeKeys: SoftwareKeyStore
    const file = (name: string): string => join(work, name)

    before(async function () {
      // Rule: this suite compares against the real openssl binary; without it there is nothing to compare.
      if (!hasOpenssl) { this.skip() }
      t = await tempCa(variant)
      work = await mkdtemp(join(tmpdir(), 'dadm-openssl-'))
      nodeKeys = new SoftwareKeyStore({ dir: join(work, 'keys'), passphrase: 'pw', scryptLogN: MIN_SCRYPT_LOG_N })
      await writeFile(file('root.pem'), t.ca.rootPem)
      await writeFile(file('chain.pem'), t.ca.chainPem)
    })
    after(async () => {
      if (t != null) { await t.cleanup() }
      if (work != null) { await rm(work, { recursive: true, force: true }) }
    })

    async function issueNode (ca: MeshCa, nodeId: string): Promise<{ pem: string, serialHex: string, csrPem: string }> {
      const key = await nodeKeys.generate(nodeId, 'Ed25519')
      const csr = await createCsr(key, { nodeId, peerId: peerIdFromEd25519Spki(key.publicKeySpki) })
      const issued = await ca.issue({ csr, now: NOW })
      return { pem: issued.pem, serialHex: issued.serialHex, csrPem: derToPem(csr, 'CERTIFICATE REQUEST') }
    }

    async function crls (): Promise<void> {
      await writeFile(file('crl.pem'), (await t.ca.currentCrl(NOW)).pem)
      if (variant.intermediate) { await writeFile(file('root-crl.pem'), (await t.ca.currentCrl(NOW, 'root')).pem) }
      await writeFile(file('all-crls.pem'), (await t.ca.currentCrl(NOW)).pem + (variant.intermediate ? (await t.ca.currentCrl(NOW, 'root')).pem : ''))
    }

    const verifyLeaf = (leaf: string, all: boolean): { status: number, out: string } => openssl([
      'verify', '-attime', AT, '-CAfile', file('root.pem'), '-untrusted', file('chain.pem'),
      all ? '-crl_check_all' : '-crl_check', '-CRLfile', file(all ? 'all-crls.pem' : 'crl.pem'), file(leaf)
    ])

    it('openssl req -verify accepts the CSRs we build', async () => {
      const { csrPem } = await issueNode(t.ca, 'csr-check')
      await writeFile(file('node.csr'), csrPem)
      const r = openssl(['req', '-in', file('node.csr'), '-verify', '-noout'])
      expect(r.status, r.out).to.equal(0)
      expect(r.out).to.match(/verify OK/i)
    })

    it('openssl verify -crl_check accepts an issued certificate and rejects a revoked one (error 23)', async () => {
      const good = await issueNode(t.ca, 'good-node')
      const bad = await issueNode(t.ca, 'bad-node')
      await t.ca.revoke({ serialHex: bad.serialHex, reason: 'keyCompromise', now: NOW })
      await writeFile(file('good.pem'), good.pem)
      await writeFile(file('bad.pem'), bad.pem)
      await crls()

      const ok = verifyLeaf('good.pem', false)
      expect(ok.status, ok.out).to.equal(0)
      expect(ok.out).to.include(': OK')
      const revoked = verifyLeaf('bad.pem', false)
      expect(revoked.status, revoked.out).to.not.equal(0)
      expect(revoked.out).to.include('error 23')
      expect(revoked.out).to.include('certificate revoked')

      // -crl_check_all also checks the intermediate, against the root's CRL.
      const okAll = verifyLeaf('good.pem', true)
      expect(okAll.status, okAll.out).to.equal(0)
      const revokedAll = verifyLeaf('bad.pem', true)
      expect(revokedAll.status).to.not.equal(0)
      expect(revokedAll.out).to.include('certificate revoked')
    })

    it('openssl crl -verify accepts our CRLs', async () => {
      await crls()
      const r = openssl(['crl', '-in', file('crl.pem'), '-noout', '-CAfile', file('chain.pem'), '-verify'])
      expect(r.status, r.out).to.equal(0)
      expect(r.out).to.include('verify OK')
      if (variant.intermediate) {
        const root = openssl(['crl', '-in', file('root-crl.pem'), '-noout', '-CAfile', file('root.pem'), '-verify'])
        expect(root.status, root.out).to.equal(0)
        expect(root.out).to.include('verify OK')
      }
      const text = openssl(['crl', '-in', file('crl.pem'), '-noout', '-text'])
      expect(text.out).to.match(/Version 2/)
      expect(text.out).to.match(/X509v3 CRL Number/)
      expect(text.out).to.match(/Key Compromise/)
    })

    it('our CA accepts a node CSR that openssl builds', async function () {
      const key = file('openssl-node.key')
      const peerId = peerIdFromEd25519Spki((await nodeKeys.generate('peer-for-openssl', 'Ed25519')).publicKeySpki)
      expect(openssl(['genpkey', '-algorithm', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]).status).to.equal(0)
      const r = openssl(['req', '-new', '-key', key, '-subj', '/CN=node-ossl', '-addext',
        `subjectAltName=URI:urn:dadm:node:node-ossl,URI:urn:libp2p:peer:${peerId}`, '-outform', 'PEM', '-out', file('ossl.csr')])
      expect(r.status, r.out).to.equal(0)
      const { readFile } = await import('node:fs/promises')
      const issued = await t.ca.issue({ csr: await readFile(file('ossl.csr'), 'utf8'), now: NOW })
      expect(issued).to.include({ nodeId: 'node-ossl', peerId })
    })

    if (variant.intermediate) {
      it('openssl verify -crl_check_all rejects a leaf under a revoked intermediate', async () => {
        const leaf = await issueNode(t.ca, 'under-revoked')
        await writeFile(file('under.pem'), leaf.pem)
        await t.ca.revoke({ serialHex: t.ca.issuingCertificate.serialHex, reason: 'cACompromise', now: NOW })
        await crls()
        const r = verifyLeaf('under.pem', true)
        expect(r.status).to.not.equal(0)
        expect(r.out).to.include('error 23 at 1 depth')
      })
    }
  })
}
