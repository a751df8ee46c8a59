import { stat } from 'node:fs/promises'

/**
 * True when `path` exists (any kind of entry). Only "no such entry" means false: a permission or
 * I/O error is thrown, so a caller deciding whether to create or clean up never guesses.
 */
export async function pathExists (path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch (err: any) {
    if (err.code === 'ENOENT') { return false }
    throw err
  }
}
