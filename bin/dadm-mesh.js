#!/usr/bin/env node
/* eslint-disable no-console -- the launcher reports to the terminal */
// Launcher for the `dadm-mesh` command. libp2p 3 needs Node >= 22; where the system Node is older,
// re-run this same command under the Node 22 that the devDependency `node@22` installed.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const [major, minor] = process.versions.node.split('.').map(Number)
// Node 22.18 is the first release that runs TypeScript sources without flags.
const recentEnough = major > 22 || (major === 22 && minor >= 18)

if (!recentEnough) {
  const pinned = join(root, 'node_modules', 'node', 'bin', 'node')
  if (!existsSync(pinned)) {
    console.error('dadm-mesh needs Node >= 22: run `npm install` in the project first (it installs node@22).')
    process.exit(1)
  }
  const r = spawnSync(pinned, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' })
  process.exit(r.status ?? 1)
}

/**
 * True when `npm run build` output (dist/) was built from the sources as they are: no .ts file
 * under src, protocols or simulations is newer than dist/BUILD (stamped with the build's start).
 * Without sources (an installed build) the build is current by definition.
 */
function builtIsCurrent () {
  let built
  try {
    built = statSync(join(root, 'dist', 'BUILD')).mtimeMs
  } catch {
    return false
  }
  if (!existsSync(join(root, 'dist', 'src', 'cli', 'main.js'))) { return false }
  for (const d of ['src', 'protocols', 'simulations']) {
    let entries
    try {
      entries = readdirSync(join(root, d), { recursive: true, withFileTypes: true })
    } catch {
      continue
    }
    for (const e of entries) {
      if (e.isFile() && e.name.endsWith('.ts') && statSync(join(e.parentPath, e.name)).mtimeMs > built) { return false }
    }
  }
  return true
}

// Built JavaScript starts about twice as fast as stripping the types of every module at every
// start (measured by `npm run bench -- cli`); Node >= 22.18 runs the sources when there is no
// current build. DADM_MESH_FROM_SOURCE=1 forces the sources.
const fromBuild = process.env.DADM_MESH_FROM_SOURCE !== '1' && builtIsCurrent()
const code = fromBuild ? join(root, 'dist', 'src') : join(root, 'src')
const ext = fromBuild ? 'js' : 'ts'
const entry = join(code, 'cli', `main.${ext}`)
if (!existsSync(entry)) {
  console.error(`dadm-mesh sources are missing: ${entry}`)
  process.exit(1)
}
// A peer that goes away must not end the process: see src/node/quic-late-rejection.ts.
const { installQuicRejectionGuard } = await import(pathToFileURL(join(code, 'node', `quic-late-rejection.${ext}`)).href)
installQuicRejectionGuard()
const { main } = await import(pathToFileURL(entry).href)
process.exitCode = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env })
