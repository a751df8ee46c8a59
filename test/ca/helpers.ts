import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MeshCa } from '../../src/ca/index.ts'
import { MIN_SCRYPT_LOG_N } from '../../src/identity/key-file.ts'
import type { CaInitOptions } from '../../src/ca/index.ts'

/** Fixed clock for CA tests. */
export const NOW = new Date('2026-03-01T12:00:00Z')
export const PASS = 'test passphrase'

/** A fresh CA in a temp dir; tests use the floor scrypt cost to stay fast. */
export async function tempCa (opts: Partial<CaInitOptions> = {}): Promise<{ ca: MeshCa, dir: string, cleanup(): Promise<void> }> {
  const base = await mkdtemp(join(tmpdir(), 'dadm-ca-'))
  const dir = join(base, 'ca')
  const ca = await MeshCa.init({ dir, passphrase: PASS, now: NOW, scryptLogN: MIN_SCRYPT_LOG_N, ...opts })
  return {
    ca,
    dir,
    cleanup: async () => {
      await ca.close()
      await rm(base, { recursive: true, force: true })
    }
  }
}

/** Awaits a promise that must reject and returns the error. */
export async function rejects (p: Promise<unknown> | (() => unknown)): Promise<any> {
  try {
    await (typeof p === 'function' ? p() : p)
  } catch (err) {
    return err
  }
  throw new Error('expected a rejection')
}
