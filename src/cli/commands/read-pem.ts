import { readFile, stat } from 'node:fs/promises'
import { EncodingError } from '../../util/encoding-errors.ts'
import { MAX_PEM_BYTES, pemToDerAll } from '../../util/pem.ts'

/** Reads every PEM block of `label` in a file (bounded in size; binary files refused as DER_WHERE_PEM_EXPECTED). */
export async function readPemFile (path: string, label: string): Promise<Uint8Array[]> {
  const st = await stat(path)
  if (st.size > MAX_PEM_BYTES) { throw new EncodingError('INPUT_TOO_LARGE', `${path} is larger than ${MAX_PEM_BYTES} bytes`) }
  return pemToDerAll(await readFile(path), label)
}
