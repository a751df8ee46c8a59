// `npm run build`: compiles src, protocols and simulations to dist/ (tsconfig.build.json), then
// stamps dist/BUILD with the time the build STARTED. bin/dadm-mesh.js runs the built JavaScript
// only while no source file is newer than that stamp, so a file saved during or after the build
// sends the command back to the sources instead of to stale code.
import { spawnSync } from 'node:child_process'
import { utimesSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const started = new Date()
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' })
if (r.status !== 0) { process.exit(r.status ?? 1) }
const stamp = join(root, 'dist', 'BUILD')
writeFileSync(stamp, JSON.stringify({ started_at: started.toISOString() }) + '\n')
utimesSync(stamp, started, started)
