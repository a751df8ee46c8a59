import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { parseCertificate } from '../../../src/pki/certificate.ts'
import { ChainValidationError } from '../../../src/pki/chain-errors.ts'
import { verifyChain } from '../../../src/pki/verify-chain.ts'
import { vectorsDir } from './locate.ts'
import type { ChainPolicy } from '../../../src/pki/verify-chain.ts'

/**
 * NIST PKITS (2011 edition, RSA). Sections 4.1-4.7 and 4.16 exercise what the mesh validator
 * implements. Skips are made only by the written rules below, each on a feature.
 */

interface PkitsCase {
  id: string
  ee: string
  intermediates: string[]
  crls: string[]
  require_revocation: boolean
  expect: 'SUCCESS' | 'FAILURE'
  error: string | null
  msg: string | null
}

/**
 * The reason each expected failure must have: PKITS states it in words, we map the words to our
 * bounded codes, so a case cannot pass by failing for the wrong reason.
 */
const EXPECTED_CODE: Array<[RegExp, string]> = [
  [/CRL indicates .* was revoked/, 'REVOKED'],
  [/CRL signature could not be verified/, 'CRL_BAD_SIGNATURE'],
  [/critical extensions are present in the CRL|unrecognized critical extensions are present/, 'CRL_INVALID'],
  [/CRL should have been regenerated/, 'CRL_EXPIRED'],
  [/not authorized to sign CRLs/, 'CRL_NO_CRL_SIGN'],
  [/no revocation information could be found/, 'CRL_MISSING'],
  [/signature of .* could not be verified/, 'BAD_SIGNATURE'],
  [/is not valid until/, 'NOT_YET_VALID'],
  [/expired/, 'EXPIRED'],
  [/is not a CA/, 'NOT_A_CA'],
  [/exceeds the maximum path length/, 'PATH_LEN_EXCEEDED'],
  [/is not allowed to sign certificates/, 'KEY_USAGE'],
  [/unsupported critical extension/, 'UNKNOWN_CRITICAL_EXTENSION']
]

function expectedCode (c: PkitsCase): string | undefined {
  return EXPECTED_CODE.find(([re]) => re.test(c.msg ?? ''))?.[1]
}

const dir = join(vectorsDir(), 'pkits')
const manifest: PkitsCase[] = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'))
const cert = (f: string): Uint8Array => readFileSync(join(dir, 'certs', f))
const crl = (f: string): Uint8Array => readFileSync(join(dir, 'crls', f))

// PKITS certificates are valid 2010-2030; the CRLs' nextUpdate is 2030 (except the stale-CRL tests).
const NOW = new Date('2020-01-01T00:00:00Z')
const DSA_OID = '1.2.840.10040.4.1'

/** PKITS is a general RFC 5280 suite: no mesh EKU/KU demands on the leaf, CA leaves allowed. */
function policyFor (c: PkitsCase): ChainPolicy {
  return {
    requiredEku: [],
    requireEku: false,
    acceptAnyEku: true,
    leafKeyUsage: [],
    allowCaLeaf: true,
    requireRevocationInfo: c.require_revocation
  }
}

/** The written skip rules: a reason when a case needs a feature the validator does not have. */
function skipReason (c: PkitsCase): string | undefined {
  const section = Number(c.id.slice(1, 3))
  if (section >= 8 && section <= 12) { return 'certificate policies (4.8-4.12) are not processed: the mesh uses no certificate policies' }
  if (section === 13) { return 'name constraints (4.13) are not implemented' }
  if (section === 14 || section === 15) { return 'CRL distribution points, indirect and delta CRLs (4.14, 4.15) are not implemented: the mesh CA issues one complete CRL per issuer' }
  const spkiOids = [c.ee, ...c.intermediates].map(f => parseCertificate(cert(f)).publicKeyAlgorithm)
  if (spkiOids.includes(DSA_OID)) { return 'DSA keys are refused by the mesh key policy' }
  return undefined
}

describe('conformance: NIST PKITS', () => {
  const passed: string[] = []
  const skipped = new Map<string, number>()
  const roots = [cert('TrustAnchorRootCertificate.crt')]
  const anchorCrl = crl('TrustAnchorRootCRL.crl')

  after(() => {
    const reasons = [...skipped.entries()].map(([r, n]) => `${n}: ${r}`).join('; ')
    const skippedCount = [...skipped.values()].reduce((a, b) => a + b, 0)
    // eslint-disable-next-line no-console -- the pass count is this suite's report
    console.log(`pkits: ${passed.length} passed, ${skippedCount} skipped by rule (${reasons})`)
  })

  for (const c of manifest) {
    it(`${c.id} (${c.expect})`, function () {
      const reason = skipReason(c)
      if (reason != null) {
        skipped.set(reason, (skipped.get(reason) ?? 0) + 1)
        this.skip()
      }
      const run = (): unknown => verifyChain(NOW, cert(c.ee), c.intermediates.map(cert), roots, [anchorCrl, ...c.crls.map(crl)], policyFor(c))
      if (c.expect === 'SUCCESS') {
        run()
      } else {
        let error: unknown
        try {
          run()
        } catch (err) {
          error = err
        }
        expect(error, 'validation should fail').to.be.instanceOf(ChainValidationError)
        expect(expectedCode(c), `no code mapped for: ${c.msg ?? ''}`).to.be.a('string')
        expect((error as ChainValidationError).code, (error as Error).message).to.equal(expectedCode(c))
      }
      passed.push(c.id)
    })
  }
})
