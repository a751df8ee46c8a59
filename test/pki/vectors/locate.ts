import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * The shared conformance vectors live at `<repo>/../shared/vectors`. Tests run from TypeScript
 * (aegir) or from dist/, so walk up from this file to the folder holding package.json.
 */
export function vectorsDir (): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 8; i++) {
    if (existsSync(join(dir, 'package.json'))) { return resolve(dir, '..', 'shared', 'vectors') }
    dir = dirname(dir)
  }
  throw new Error('cannot find the repository root (package.json) above the test file')
}
