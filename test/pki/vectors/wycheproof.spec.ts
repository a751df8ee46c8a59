import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { checkPublicKey } from '../../../src/pki/key-policy.ts'
import { SIG_OID, verifyEd25519, verifyP1363, verifySignature } from '../../../src/pki/signature.ts'
import { encodeTlv, TAG } from '../../../src/util/der.ts'
import { vectorsDir } from './locate.ts'
import type { AlgorithmIdentifier } from '../../../src/pki/signature.ts'

/**
 * C2SP Wycheproof against the verifiers the mesh uses: verifySignature (certificates, CRLs, CSRs),
 * verifyP1363 (WebCrypto-style ECDSA) and verifyEd25519 (gossip envelopes, auth transcripts).
 * Keys go through checkPublicKey, as every key the mesh accepts does.
 *
 * `acceptable` results: these files have none. Were one to appear, the documented choice in
 * signature.ts applies (strict DER, high-S accepted), and the case is counted, not asserted.
 */

interface WycheproofTest { tcId: number, comment: string, msg: string, sig: string, result: 'valid' | 'invalid' | 'acceptable', flags: string[] }
interface WycheproofFile { testGroups: Array<{ publicKeyDer: string, sha?: string, tests: WycheproofTest[] }> }

const dir = join(vectorsDir(), 'wycheproof')
const load = (f: string): WycheproofFile => JSON.parse(readFileSync(join(dir, f), 'utf8'))
const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'))

function algorithm (oid: string): AlgorithmIdentifier {
  const arcs = oid === SIG_OID.ECDSA_SHA256 ? '2a8648ce3d040302' : '2b6570'
  return { oid, der: encodeTlv(TAG.SEQUENCE, encodeTlv(TAG.OID, hex(arcs))) }
}

const suites: Array<{ name: string, file: string, verify(key: Uint8Array, msg: Uint8Array, sig: Uint8Array): boolean }> = [
  {
    name: 'ECDSA P-256 SHA-256 (DER)',
    file: 'ecdsa_secp256r1_sha256_test.json',
    verify: (key, msg, sig) => verifySignature(algorithm(SIG_OID.ECDSA_SHA256), checkPublicKey(key).keyObject, msg, sig)
  },
  {
    name: 'ECDSA P-256 SHA-256 (IEEE P1363)',
    file: 'ecdsa_secp256r1_sha256_p1363_test.json',
    verify: (key, msg, sig) => verifyP1363('sha256', checkPublicKey(key).keyObject, msg, sig)
  },
  {
    name: 'Ed25519',
    file: 'ed25519_test.json',
    verify: (key, msg, sig) => {
      const k = checkPublicKey(key).keyObject
      const viaAlgorithm = verifySignature(algorithm(SIG_OID.ED25519), k, msg, sig)
      // Both Ed25519 entry points must agree.
      expect(verifyEd25519(k, msg, sig)).to.equal(viaAlgorithm)
      return viaAlgorithm
    }
  }
]

describe('conformance: Wycheproof signatures', () => {
  const counts = new Map<string, { passed: number, acceptable: number }>()

  after(() => {
    const parts = [...counts.entries()].map(([n, c]) => `${n} ${c.passed}${c.acceptable > 0 ? ` (${c.acceptable} acceptable)` : ''}`)
    const total = [...counts.values()].reduce((a, c) => a + c.passed, 0)
    // eslint-disable-next-line no-console -- the pass count is this suite's report
    console.log(`wycheproof: ${total} passed, 0 skipped by rule (${parts.join('; ')})`)
  })

  for (const suite of suites) {
    describe(suite.name, () => {
      const count = { passed: 0, acceptable: 0 }
      counts.set(suite.name, count)
      for (const group of load(suite.file).testGroups) {
        const key = hex(group.publicKeyDer)
        for (const t of group.tests) {
          it(`tcId ${t.tcId} ${t.result} [${t.flags.join(',')}] ${t.comment}`, () => {
            let ok: boolean
            try {
              ok = suite.verify(key, hex(t.msg), hex(t.sig))
            } catch (err) {
              // A disagreement between the two Ed25519 entry points must surface, not read as "invalid".
              if ((err as Error).name === 'AssertionError') { throw err }
              ok = false
            }
            if (t.result === 'acceptable') { count.acceptable++ } else { expect(ok).to.equal(t.result === 'valid') }
            count.passed++
          })
        }
      }
    })
  }
})
