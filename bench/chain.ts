import 'reflect-metadata'
import { createPublicKey, verify, webcrypto } from 'node:crypto'
import * as x509 from '@peculiar/x509'
import { parseCertificate } from '../src/pki/certificate.ts'
import { ChainVerifier } from '../src/pki/chain-verifier.ts'
import { verifyChain } from '../src/pki/verify-chain.ts'
import { opsPerSecond } from './types.ts'
import type { BenchResult } from './types.ts'

/**
 * Chain benchmark: verifications per second of a 2-deep chain (node <- issuing CA <- root, two
 * P-256 signatures), cold (parse + full validation every time) and cached (ChainVerifier hit:
 * hash of the bytes, lookup, validity window, revocation Set), next to raw node:crypto P-256
 * verifications with a KeyObject, measured in the same run. Goal: cached >= 0.5 x raw.
 */

const MS = 2000
const NOW = new Date('2025-01-01T00:00:00Z')

async function buildChain (): Promise<{ root: Uint8Array, ca: Uint8Array, leaf: Uint8Array }> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' }
  const gen = async (): Promise<CryptoKeyPair> => await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']) as CryptoKeyPair
  const ski = async (k: CryptoKey): Promise<string> => Buffer.from(await webcrypto.subtle.digest('SHA-1', await webcrypto.subtle.exportKey('spki', k))).toString('hex')
  const [rootKeys, caKeys, leafKeys] = [await gen(), await gen(), await gen()]
  const [rootId, caId, leafId] = [await ski(rootKeys.publicKey), await ski(caKeys.publicKey), await ski(leafKeys.publicKey)]
  const notBefore = new Date(NOW.getTime() - 86_400_000)
  const notAfter = new Date(NOW.getTime() + 86_400_000)
  const issue = async (subject: string, issuer: string, keys: CryptoKeyPair, signer: CryptoKeyPair, id: string, issuerId: string, ca: boolean): Promise<Uint8Array> => {
    const cert = await x509.X509CertificateGenerator.create({
      subject,
      issuer,
      notBefore,
      notAfter,
      publicKey: keys.publicKey,
      signingKey: signer.privateKey,
      signingAlgorithm: alg,
      extensions: [
        new x509.SubjectKeyIdentifierExtension(id),
        new x509.AuthorityKeyIdentifierExtension(issuerId),
        ...(ca
          ? [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)]
          : [new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
              new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth, x509.ExtendedKeyUsage.serverAuth]),
              new x509.SubjectAlternativeNameExtension([{ type: 'url', value: 'urn:dadm:node:bench-1' }])])
      ]
    }, webcrypto as unknown as Crypto)
    return new Uint8Array(cert.rawData)
  }
  const root = await issue('CN=Bench Root', 'CN=Bench Root', rootKeys, rootKeys, rootId, rootId, true)
  const ca = await issue('CN=Bench CA', 'CN=Bench Root', caKeys, rootKeys, caId, rootId, true)
  const leaf = await issue('CN=bench-1', 'CN=Bench CA', leafKeys, caKeys, leafId, caId, false)
  return { root, ca, leaf }
}

export async function benchChain (): Promise<BenchResult[]> {
  const { root, ca, leaf } = await buildChain()

  // Baseline: one raw P-256 signature verification over the leaf's TBS with a ready KeyObject.
  const leafCert = parseCertificate(leaf)
  const caKey = createPublicKey({ key: Buffer.from(parseCertificate(ca).spki), format: 'der', type: 'spki' })
  if (!verify('sha256', leafCert.tbs, caKey, leafCert.signature)) { throw new Error('bench chain does not verify') }
  const raw = await opsPerSecond(() => verify('sha256', leafCert.tbs, caKey, leafCert.signature), MS)

  const cold = await opsPerSecond(() => verifyChain(NOW, leaf, [ca], [root], []), MS)

  const verifier = new ChainVerifier({ roots: [root] })
  verifier.verify(NOW, leaf, [ca])
  const cachedBytes = await opsPerSecond(() => verifier.verify(NOW, leaf, [ca]), MS)
  const parsedLeaf = parseCertificate(leaf)
  const parsedCa = parseCertificate(ca)
  const cachedParsed = await opsPerSecond(() => verifier.verify(NOW, parsedLeaf, [parsedCa]), MS)

  const base = 'raw P-256 verify'
  return [
    { name: base, value: raw, unit: 'verifications/s' },
    { name: '2-deep chain, cold (parse + verifyChain)', value: cold, unit: 'chains/s', baseline: base, ratio: cold / raw, goal: 'informative (two signatures: ~0.5 at best)' },
    { name: '2-deep chain, cached (ChainVerifier hit, DER in)', value: cachedBytes, unit: 'chains/s', baseline: base, ratio: cachedBytes / raw, goal: '>= 0.5', met: cachedBytes / raw >= 0.5 },
    { name: '2-deep chain, cached (ChainVerifier hit, parsed in)', value: cachedParsed, unit: 'chains/s', baseline: base, ratio: cachedParsed / raw, goal: '>= 0.5', met: cachedParsed / raw >= 0.5 }
  ]
}
