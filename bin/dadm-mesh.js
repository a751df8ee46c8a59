#!/usr/bin/env node
/* eslint-disable no-console -- the launcher reports to the terminal */
// Launcher for the `dadm-mesh` command. libp2p 3 needs Node >= 22; where the system Node is older,
// re-run this same command under the Node 22 that the devDependency `node@22` installed.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
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

// Node >= 22.18 strips TypeScript types itself, so the CLI runs from source with no build step.
const entry = join(root, 'src', 'cli', 'main.ts')
if (!existsSync(entry)) {
  console.error('dadm-mesh sources are missing: src/cli/main.ts')
  process.exit(1)
}
const { main } = await import(pathToFileURL(entry).href)
process.exitCode = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env })
