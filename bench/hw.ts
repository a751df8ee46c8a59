/**
 * Hardware-backed keys and attestation. First, ECDSA P-256 signatures per second with
 * the key in SoftHSM2 (PKCS#11) against the software key store in the same run: what a hardware
 * identity key costs per auth handshake (one signature per connection); then whole auth
 * handshakes per second with that key against the software one (bench/hw-auth.ts). Second, TPM quote
 * verifications per second: the pure TypeScript verifier on one captured swtpm quote, against a
 * raw ECDSA P-256 verify of the same bytes as baseline. swtpm is started and stopped by pid;
 * missing packages skip the figure with a printed reason.
 */
import { createPublicKey, verify } from 'node:crypto'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DEFAULT_ATTESTATION_POLICY } from '../src/attestation/policy.ts'
import { Swtpm, swtpmMissing } from '../src/attestation/swtpm.ts'
import { parseTpmtSignature } from '../src/attestation/tpm-signature.ts'
import { Tpm } from '../src/attestation/tpm.ts'
import { verifyQuote } from '../src/attestation/verify-quote.ts'
import { MIN_SCRYPT_LOG_N } from '../src/identity/key-file.ts'
import { Pkcs11KeyStore } from '../src/identity/pkcs11-key-store.ts'
import { initSoftHsmToken, softHsmMissing } from '../src/identity/softhsm-token.ts'
import { SoftwareKeyStore } from '../src/identity/software-key-store.ts'
import { benchAuthHandshakes } from './hw-auth.ts'
import { opsPerSecond } from './types.ts'
import type { BenchResult } from './types.ts'

/** Per figure: long enough for a steady rate, short enough that the group stays under ~15 s. */
const MS = 1500
const TRANSCRIPT = new TextEncoder().encode('dadm-mesh auth transcript: label, both PeerIds, both nonces (about 120 bytes of input)')

async function benchSigning (base: string): Promise<BenchResult[]> {
  const missing = await softHsmMissing()
  if (missing != null) {
    process.stdout.write(`hw: skipping SoftHSM2 signing: ${missing}\n`)
    return []
  }
  const token = await initSoftHsmToken({ dir: join(base, 'softhsm'), label: 'bench', pin: '1234', soPin: '5678' })
  const savedConf = process.env.SOFTHSM2_CONF
  process.env.SOFTHSM2_CONF = token.conf
  const hsm = await Pkcs11KeyStore.open({ module: token.module, tokenLabel: 'bench', pin: '1234' })
  try {
    const hsmKey = await hsm.generate('identity', 'P-256')
    const swKey = await new SoftwareKeyStore({ dir: join(base, 'keys'), passphrase: 'bench', scryptLogN: MIN_SCRYPT_LOG_N }).generate('identity', 'P-256')
    const sw = await opsPerSecond(async () => swKey.sign(TRANSCRIPT), MS)
    const hw = await opsPerSecond(async () => hsmKey.sign(TRANSCRIPT), MS)
    return [
      { name: 'P-256 sign, software key store (baseline)', value: sw, unit: 'sig/s' },
      // An auth handshake signs once per connection; connection setup (QUIC ~2.5 ms) bounds the
      // handshake rate near 400/s, so a token must sign at least that fast not to be the limit.
      { name: 'P-256 sign, key in SoftHSM2 (PKCS#11)', value: hw, unit: 'sig/s', baseline: 'P-256 sign, software key store (baseline)', ratio: hw / sw, goal: '>= 400 sig/s absolute; ratio informative', met: hw >= 400 }
    ]
  } finally {
    await hsm.close()
    if (savedConf == null) { delete process.env.SOFTHSM2_CONF } else { process.env.SOFTHSM2_CONF = savedConf }
  }
}

async function benchQuotes (base: string): Promise<BenchResult[]> {
  const missing = await swtpmMissing()
  if (missing != null) {
    process.stdout.write(`hw: skipping TPM quotes: ${missing}\n`)
    return []
  }
  const state = join(base, 'swtpm')
  await mkdir(state)
  const swtpm = await Swtpm.start({ stateDir: state })
  try {
    const tpm = new Tpm({ tcti: swtpm.tcti, dir: join(base, 'tpm') })
    await tpm.ensureAk()
    const identitySpki = new Uint8Array(32).fill(7)
    const nonce = new Uint8Array(32).fill(1)
    // a few real quotes from swtpm, bounded: how long a prover waits for its TPM
    const t0 = performance.now()
    let quotes = 0
    let ev = await tpm.quote({ nonce, identitySpki })
    for (quotes = 1; quotes < 20 && performance.now() - t0 < MS; quotes++) { ev = await tpm.quote({ nonce, identitySpki }) }
    const quoteRate = quotes / ((performance.now() - t0) / 1000)
    const expected = { nonce, identitySpki, nonceIssuedAt: new Date() }
    const now = new Date()
    // no replay cache: the same quote is verified over and over; the cache is a Map lookup
    const full = await opsPerSecond(() => verifyQuote(now, ev, expected, DEFAULT_ATTESTATION_POLICY), MS)
    const sig = parseTpmtSignature(ev.signature)
    const p1363 = Buffer.alloc(64)
    Buffer.from(sig.r ?? []).copy(p1363, 32 - (sig.r?.length ?? 0))
    Buffer.from(sig.s ?? []).copy(p1363, 64 - (sig.s?.length ?? 0))
    const ak = createPublicKey({ key: Buffer.from((await tpm.ensureAk()).spki), format: 'der', type: 'spki' })
    if (!verify('sha256', ev.quote, { key: ak, dsaEncoding: 'ieee-p1363' }, p1363)) { throw new Error('baseline signature does not verify') }
    const raw = await opsPerSecond(() => verify('sha256', ev.quote, { key: ak, dsaEncoding: 'ieee-p1363' }, p1363), MS)
    return [
      { name: 'swtpm quote (tpm2_quote, 8 PCRs, prover side)', value: quoteRate, unit: 'quotes/s' },
      { name: 'raw ECDSA P-256 verify of the quote (baseline)', value: raw, unit: 'verify/s' },
      // the TS verifier parses TPMS_ATTEST, checks the EK binding and the PCR digest around the
      // one ECDSA verify; with parsed AKs/EKs cached (verifiers see the same few) it should cost
      // at most twice the bare verify
      { name: 'TPM quote verification (verifyQuote, full policy)', value: full, unit: 'verify/s', baseline: 'raw ECDSA P-256 verify of the quote (baseline)', ratio: full / raw, goal: '>= 0.5', met: full / raw >= 0.5 }
    ]
  } finally {
    await swtpm.stop()
  }
}

export async function benchHw (): Promise<BenchResult[]> {
  const base = await mkdtemp(join(tmpdir(), 'dadm-bench-hw-'))
  try {
    return [...await benchSigning(base), ...await benchAuthHandshakes(base), ...await benchQuotes(base)]
  } finally {
    await rm(base, { recursive: true, force: true })
  }
}
