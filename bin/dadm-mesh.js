#!/usr/bin/env node
// Launcher for the `dadm-mesh` command. libp2p 3 needs Node >= 22; where the system Node is older,
// re-run this same command under the Node 22 that the devDependency `node@22` installed.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const major = Number(process.versions.node.split('.')[0])

if (major < 22) {
  const pinned = join(root, 'node_modules', 'node', 'bin', 'node')
  if (!existsSync(pinned)) {
    console.error('dadm-mesh needs Node >= 22: run `npm install` in the project first (it installs node@22).')
    process.exit(1)
  }
  const r = spawnSync(pinned, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' })
  process.exit(r.status ?? 1)
}

const entry = join(root, 'dist', 'src', 'cli', 'main.js')
if (!existsSync(entry)) {
  console.error('dadm-mesh is not built: run `npm run build` first.')
  process.exit(1)
}
const { main } = await import(entry)
process.exitCode = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env })
