import { execFile } from 'node:child_process'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { quoteQualifyingData } from '../../src/attestation/evidence.ts'
import { Swtpm } from '../../src/attestation/swtpm.ts'
import { Tpm } from '../../src/attestation/tpm.ts'
import type { TpmQuoteEvidence } from '../../src/attestation/evidence.ts'
import type { TpmKey } from '../../src/attestation/tpm.ts'

const run = promisify(execFile)

/** A running swtpm with an EK and an AK, in its own temp dir; `stop` ends it by pid and removes the dir. */
export interface TestTpm {
  swtpm: Swtpm
  tpm: Tpm
  dir: string
  ek: TpmKey
  ak: TpmKey
  stop(): Promise<void>
}

export async function startTestTpm (): Promise<TestTpm> {
  const dir = await mkdtemp(join(tmpdir(), 'dadm-swtpm-'))
  const state = join(dir, 'state')
  await mkdir(state)
  const swtpm = await Swtpm.start({ stateDir: state })
  try {
    const tpm = new Tpm({ tcti: swtpm.tcti, dir: join(dir, 'keys') })
    const ak = await tpm.ensureAk()
    const ek = await tpm.ekPublic()
    return {
      swtpm,
      tpm,
      dir,
      ek,
      ak,
      async stop () {
        await swtpm.stop()
        await rm(dir, { recursive: true, force: true })
      }
    }
  } catch (err) {
    await swtpm.stop()
    await rm(dir, { recursive: true, force: true })
    throw err
  }
}

/** A fresh identity key SPKI (the node's certificate key) and a fresh 32-byte nonce. */
export function freshIdentity (): { identitySpki: Uint8Array, nonce: Uint8Array } {
  const spki = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' })
  return { identitySpki: new Uint8Array(spki), nonce: new Uint8Array(randomBytes(32)) }
}

/** Runs a tpm2-tools command against `tcti`, then flushes transient objects. */
export async function tpmTool (tcti: string, cmd: string, args: string[]): Promise<string> {
  const env = { ...process.env, TPM2TOOLS_TCTI: tcti }
  try {
    return (await run(cmd, args, { env, timeout: 30_000 })).stdout
  } finally {
    await run('tpm2_flushcontext', ['-t'], { env, timeout: 30_000 }).catch(() => {})
  }
}

/**
 * The outside check: does `tpm2_checkquote` accept this quote and signature for this AK, these
 * PCRs (a tpm2-tools pcrs.out file) and the qualifying data SHA-256(nonce || identity SPKI)?
 */
export async function checkquoteAccepts (dir: string, ev: TpmQuoteEvidence, pcrsFile: string, nonce: Uint8Array, identitySpki: Uint8Array): Promise<boolean> {
  const work = await mkdtemp(join(dir, 'checkquote-'))
  try {
    await writeFile(join(work, 'ak.pub'), ev.ak_public)
    await writeFile(join(work, 'quote.msg'), ev.quote)
    await writeFile(join(work, 'quote.sig'), ev.signature)
    const q = Buffer.from(quoteQualifyingData(nonce, identitySpki)).toString('hex')
    await run('tpm2_checkquote', ['-u', join(work, 'ak.pub'), '-m', join(work, 'quote.msg'), '-s', join(work, 'quote.sig'), '-f', pcrsFile, '-g', 'sha256', '-q', q], { timeout: 30_000 })
    return true
  } catch (err: any) {
    if (typeof err.code === 'number') { return false }
    throw err
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

/** A copy of `bytes` with bit `bit` of byte `index` flipped. */
export function flipBit (bytes: Uint8Array, index: number, bit = 0): Uint8Array {
  const out = new Uint8Array(bytes)
  out[index] ^= 1 << bit
  return out
}
