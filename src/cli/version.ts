import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** Largest package.json read while looking for ours. */
const MAX_PACKAGE_JSON = 64 * 1024

/**
 * The version in the project's package.json. The CLI runs from src/ (type stripping) or from the
 * build in dist/, so the file is found by walking up from here (a few levels at most) to the
 * package.json named dadm-mesh.
 */
export function packageVersion (): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 5; i++) {
    try {
      const text = readFileSync(join(dir, 'package.json'), 'utf8')
      if (text.length <= MAX_PACKAGE_JSON) {
        const pkg = JSON.parse(text) as { name?: unknown, version?: unknown }
        if (pkg.name === 'dadm-mesh' && typeof pkg.version === 'string') { return pkg.version }
      }
    } catch {}
    dir = dirname(dir)
  }
  return 'unknown'
}
