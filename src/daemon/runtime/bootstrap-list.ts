import { readFile } from 'node:fs/promises'
import { multiaddr } from '@multiformats/multiaddr'
import { NodeRuntimeError } from './errors.ts'

/** A bootstrap list is a few dozen lines; these bound a wrong file. */
const MAX_FILE_BYTES = 256 * 1024
const MAX_ENTRIES = 1024

/**
 * Reads a bootstrap-list file (for air-gapped sites: carried on USB): one multiaddr with
 * `/p2p/<peerId>` per line; blank lines and `#` comments are skipped.
 */
export async function readBootstrapFile (path: string): Promise<string[]> {
  let bytes: Buffer
  try {
    bytes = await readFile(path)
  } catch (err) {
    throw new NodeRuntimeError('BOOTSTRAP_FILE_INVALID', `cannot read ${path}`, { cause: err })
  }
  if (bytes.length > MAX_FILE_BYTES) { throw new NodeRuntimeError('BOOTSTRAP_FILE_INVALID', `${path} is too large`) }
  return parseBootstrapList(bytes.toString('utf8'), path)
}

/** Parses bootstrap-list text; `name` only labels errors. */
export function parseBootstrapList (text: string, name = 'bootstrap list'): string[] {
  const out: string[] = []
  const lines = text.split(/\r?\n/)
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/#.*$/, '').trim()
    if (line === '') { continue }
    if (out.length >= MAX_ENTRIES) { throw new NodeRuntimeError('BOOTSTRAP_FILE_INVALID', `${name} has more than ${MAX_ENTRIES} entries`) }
    try {
      const ma = multiaddr(line)
      if (ma.getComponents().find(c => c.name === 'p2p') == null) { throw new Error('no /p2p/<peerId>') }
    } catch (err) {
      throw new NodeRuntimeError('BOOTSTRAP_FILE_INVALID', `${name} line ${i + 1} is not a multiaddr with /p2p/<peerId>`, { cause: err })
    }
    out.push(line)
  }
  return out
}
