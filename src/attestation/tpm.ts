import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { MeshError } from '../errors.ts'
import { childProcessEnv } from '../util/child-env.ts'
import { createLock } from '../util/lock.ts'
import { credentialFile } from './credential.ts'
import { quoteQualifyingData } from './evidence.ts'
import { parseTpm2bPublic } from './tpm-public.ts'
import type { PcrValues, TpmQuoteEvidence } from './evidence.ts'
import type { PcrBank } from './tpm-reader.ts'

/**
 * The TPM 2.0 backend for attestation, driving tpm2-tools against a TCTI (a device such as
 * `device:/dev/tpmrm0`, or `swtpm:host=127.0.0.1,port=N`). Without a resource manager every
 * object a tool loads stays in the TPM's few transient slots, so each command is followed by
 * `tpm2_flushcontext -t`. Keys live as files in `dir`: the EK is re-derived from the
 * endorsement seed (same template, same key); the AK is created once under the EK and its
 * public and wrapped private parts kept, so it survives restarts.
 */

export type TpmErrorCode = 'TOOL_MISSING' | 'COMMAND_FAILED' | 'TIMEOUT' | 'NO_AK' | 'BAD_OUTPUT'

/** Raised when tpm2-tools are missing, fail, or say something we cannot read. */
export class TpmError extends MeshError<TpmErrorCode> {
  static name = 'TpmError'
}

export interface TpmInit {
  /** TCTI for tpm2-tools, e.g. `swtpm:host=127.0.0.1,port=2321` or `device:/dev/tpmrm0`. */
  tcti: string
  /** Directory for EK/AK blobs and contexts (created 0700). */
  dir: string
  /** Deadline per tpm2-tools command. @default 30000 (a quote takes ~20 ms on swtpm; hardware TPMs take up to ~1 s, RSA key creation longer) */
  commandTimeoutMs?: number
}

/** A TPM key as the mesh uses it: TPM2B_PUBLIC, SPKI DER and TPM Name. */
export interface TpmKey {
  public: Uint8Array
  spki: Uint8Array
  name: Uint8Array
}

export interface QuoteOptions {
  /** The verifier's nonce. */
  nonce: Uint8Array
  /** SPKI DER of the node's identity key: bound into the quote with the nonce. */
  identitySpki: Uint8Array
  /** PCRs to quote. @default [0..7] */
  pcrs?: number[]
  /** @default 'sha256' */
  bank?: PcrBank
  /** Keep quote.msg, quote.sig and pcrs.out here (for tpm2_checkquote); else a temp dir is removed. */
  outDir?: string
}

/** Bound on a tool's output: PCR listings and YAML are a few KiB. */
const MAX_OUTPUT = 1 << 20
const PCR_LINE = /^\s+(\d+)\s*:\s*0x([0-9A-Fa-f]+)\s*$/

export class Tpm {
  readonly #tcti: string
  readonly #dir: string
  readonly #timeout: number
  readonly #lock = createLock()

  constructor (init: TpmInit) {
    this.#tcti = init.tcti
    this.#dir = init.dir
    this.#timeout = init.commandTimeoutMs ?? 30_000
  }

  #path (f: string): string { return join(this.#dir, f) }

  async #tool (cmd: string, args: string[]): Promise<string> {
    try {
      const { stdout } = await promisify(execFile)(cmd, args, {
        timeout: this.#timeout, maxBuffer: MAX_OUTPUT, env: childProcessEnv({ TPM2TOOLS_TCTI: this.#tcti }), encoding: 'utf8'
      })
      return stdout
    } catch (err: any) {
      if (err.code === 'ENOENT') { throw new TpmError('TOOL_MISSING', `${cmd} is not installed (Debian package tpm2-tools)`) }
      if (err.killed === true) { throw new TpmError('TIMEOUT', `${cmd} took longer than ${this.#timeout} ms`) }
      throw new TpmError('COMMAND_FAILED', `${cmd} failed: ${String(err.stderr ?? err.message).trim().slice(-500)}`, { cause: err })
    }
  }

  /** Runs one tool, then frees the transient slots it used. */
  async #cmd (cmd: string, args: string[]): Promise<string> {
    try {
      return await this.#tool(cmd, args)
    } finally {
      await this.#tool('tpm2_flushcontext', ['-t']).catch(() => {})
    }
  }

  async #readKey (file: string): Promise<TpmKey> {
    const pub = new Uint8Array(await readFile(this.#path(file)))
    const parsed = parseTpm2bPublic(pub)
    return { public: pub, spki: parsed.spki, name: parsed.name }
  }

  /** (Re)creates the EK from the standard template (ECC P-256 by default): the same key every time. */
  async createEk (alg: 'ecc' | 'rsa' = 'ecc'): Promise<TpmKey> {
    return this.#lock.run(async () => {
      await mkdir(this.#dir, { recursive: true, mode: 0o700 })
      await this.#cmd('tpm2_createek', ['-c', this.#path('ek.ctx'), '-G', alg, '-u', this.#path('ek.pub')])
      return this.#readKey('ek.pub')
    })
  }

  /** Creates a new AK (ECC P-256, ECDSA-SHA256, restricted signing) under the EK and keeps it in `dir`. */
  async createAk (): Promise<TpmKey> {
    await this.#needEk()
    return this.#lock.run(async () => {
      await this.#cmd('tpm2_createak', [
        '-C', this.#path('ek.ctx'), '-c', this.#path('ak.ctx'), '-G', 'ecc', '-g', 'sha256', '-s', 'ecdsa',
        '-u', this.#path('ak.pub'), '-r', this.#path('ak.priv'), '-n', this.#path('ak.name')
      ])
      return this.#readKey('ak.pub')
    })
  }

  /** Runs `cmd` with the EK authorized: its policy demands a session with PolicySecret(endorsement). */
  async #withEkSession (cmd: string, args: string[]): Promise<void> {
    const session = this.#path('session.ctx')
    await this.#cmd('tpm2_startauthsession', ['--policy-session', '-S', session])
    try {
      await this.#cmd('tpm2_policysecret', ['-S', session, '-c', 'e'])
      await this.#cmd(cmd, [...args, '-P', `session:${session}`])
    } finally {
      await this.#tool('tpm2_flushcontext', [session]).catch(() => {})
      await rm(session, { force: true })
    }
  }

  /** Loads the AK kept in `dir` under the EK (after a restart); NO_AK when none was created. */
  async loadAk (): Promise<TpmKey> {
    await this.#needEk()
    return this.#lock.run(async () => {
      if (!await exists(this.#path('ak.priv'))) { throw new TpmError('NO_AK', `no AK in ${this.#dir}: create one first`) }
      await this.#withEkSession('tpm2_load', ['-C', this.#path('ek.ctx'), '-u', this.#path('ak.pub'), '-r', this.#path('ak.priv'), '-c', this.#path('ak.ctx')])
      return this.#readKey('ak.pub')
    })
  }

  /**
   * TPM2_ActivateCredential: unwraps a verifier's credential challenge (made for this EK and
   * this AK's Name) and returns the secret, proving the AK lives beside the EK.
   */
  async activateCredential (challenge: { credentialBlob: Uint8Array, encryptedSecret: Uint8Array }): Promise<Uint8Array> {
    if (!await exists(this.#path('ak.ctx'))) { throw new TpmError('NO_AK', 'no AK loaded: call ensureAk first') }
    await this.#needEk()
    return this.#lock.run(async () => {
      const work = await mkdtemp(join(this.#dir, 'cred-'))
      try {
        await writeFile(join(work, 'cred.in'), credentialFile(challenge))
        await this.#withEkSession('tpm2_activatecredential', ['-c', this.#path('ak.ctx'), '-C', this.#path('ek.ctx'), '-i', join(work, 'cred.in'), '-o', join(work, 'secret')])
        return new Uint8Array(await readFile(join(work, 'secret')))
      } finally {
        await rm(work, { recursive: true, force: true })
      }
    })
  }

  /**
   * Gets the TPM ready to quote after (re)start: re-derives the EK (saved contexts do not
   * survive a TPM reset) and loads the AK kept in `dir`, or creates one when there is none.
   */
  async ensureAk (): Promise<TpmKey> {
    await this.createEk()
    return await exists(this.#path('ak.priv')) ? this.loadAk() : this.createAk()
  }

  async #needEk (): Promise<void> {
    if (!await exists(this.#path('ek.ctx'))) { await this.createEk() }
  }

  /** The EK public key as created by `createEk`. */
  async ekPublic (): Promise<TpmKey> {
    await this.#needEk()
    return this.#readKey('ek.pub')
  }

  /** Reads PCR values of one bank. */
  async readPcrs (indexes: number[], bank: PcrBank = 'sha256'): Promise<PcrValues> {
    return this.#lock.run(async () => {
      const out = await this.#cmd('tpm2_pcrread', [`${bank}:${checkIndexes(indexes).join(',')}`])
      return { alg: bank, values: parsePcrYaml(out, bank, indexes) }
    })
  }

  /** Extends PCR `index` of `bank` with `digestHex` (measured boot does this; tests do too). */
  async extendPcr (index: number, digestHex: string, bank: PcrBank = 'sha256'): Promise<void> {
    if (!/^[0-9a-fA-F]+$/.test(digestHex)) { throw new TypeError('digest must be hex') }
    await this.#lock.run(async () => { await this.#cmd('tpm2_pcrextend', [`${checkIndexes([index])[0]}:${bank}=${digestHex}`]) })
  }

  /** Quotes the PCRs with the AK over SHA-256(nonce || identity SPKI) and returns `tpm_quote` evidence. */
  async quote (opts: QuoteOptions): Promise<TpmQuoteEvidence> {
    const bank = opts.bank ?? 'sha256'
    const indexes = checkIndexes(opts.pcrs ?? [0, 1, 2, 3, 4, 5, 6, 7])
    if (!await exists(this.#path('ak.ctx'))) { throw new TpmError('NO_AK', 'no AK loaded: call ensureAk first') }
    const ek = await this.ekPublic()
    return this.#lock.run(async () => {
      const out = opts.outDir ?? await mkdtemp(join(this.#dir, 'quote-'))
      try {
        const q = quoteQualifyingData(opts.nonce, opts.identitySpki)
        const yaml = await this.#cmd('tpm2_quote', [
          '-c', this.#path('ak.ctx'), '-l', `${bank}:${indexes.join(',')}`, '-q', Buffer.from(q).toString('hex'),
          '-m', join(out, 'quote.msg'), '-s', join(out, 'quote.sig'), '-o', join(out, 'pcrs.out'), '-g', 'sha256'
        ])
        const pcrSection = yaml.slice(Math.max(0, yaml.indexOf('pcrs:')))
        return {
          type: 'tpm_quote',
          ak_public: new Uint8Array(await readFile(this.#path('ak.pub'))),
          ek_public: ek.public,
          quote: new Uint8Array(await readFile(join(out, 'quote.msg'))),
          signature: new Uint8Array(await readFile(join(out, 'quote.sig'))),
          pcrs: { alg: bank, values: parsePcrYaml(pcrSection, bank, indexes) },
          nonce: new Uint8Array(opts.nonce)
        }
      } finally {
        if (opts.outDir == null) { await rm(out, { recursive: true, force: true }) }
      }
    })
  }
}

function checkIndexes (indexes: number[]): number[] {
  if (indexes.length === 0 || indexes.some(i => !Number.isSafeInteger(i) || i < 0 || i > 23)) {
    throw new TypeError('PCR indexes must be 0-23')
  }
  return [...new Set(indexes)].sort((a, b) => a - b)
}

/** Reads `N : 0xHEX` lines under the `bank:` heading of tpm2-tools YAML; all `indexes` must be there. */
function parsePcrYaml (yaml: string, bank: PcrBank, indexes: number[]): Record<string, string> {
  const values: Record<string, string> = {}
  let inBank = false
  for (const line of yaml.split('\n').slice(0, 1000)) {
    const heading = /^\s*(sha1|sha256|sha384|sha512)\s*:\s*$/.exec(line)
    if (heading != null) { inBank = heading[1] === bank; continue }
    const m = PCR_LINE.exec(line)
    if (inBank && m != null) { values[String(Number(m[1]))] = m[2].toLowerCase() }
  }
  for (const i of indexes) {
    if (values[String(i)] == null) { throw new TpmError('BAD_OUTPUT', `tpm2-tools output has no ${bank} PCR ${i}`) }
  }
  return values
}

async function exists (p: string): Promise<boolean> {
  try { await stat(p); return true } catch { return false }
}
