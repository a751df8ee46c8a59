/* eslint-disable no-console -- a skip and a scenario's figures say what happened */
import { buildWorld } from '../../lab/world.ts'
import type { World } from '../../lab/world.ts'

/**
 * What the lab suites share: the written skip rule, and one lab world for the five scenarios
 * (built by the first scenario that runs, torn down after the last suite).
 */
export const SKIP_RULE = 'needs root for network namespaces'
/** Building the world under CI load: namespaces, the CA, seven enrollments, the cold mesh. */
export const WORLD_MS = 10 * 60_000

export function requireRoot (ctx: Mocha.Context): void {
  if (process.getuid?.() !== 0) {
    console.log(`      skipped: ${SKIP_RULE} (this process is not root)`)
    ctx.skip()
  }
}

export const log = (line: string): void => { console.log(`      ${line}`) }

let world: Promise<World> | undefined

export async function sharedWorld (): Promise<World> {
  world ??= buildWorld(log)
  return world
}

// A root-level hook: runs once after every suite of the run, whichever built the world.
// DADM_LAB_LOGS=DIR keeps every lab process's output there (a CI artifact for a failed run).
after(async function () {
  this.timeout(120_000)
  const logsTo = process.env.DADM_LAB_LOGS
  if (world != null) { await (await world.catch(() => undefined))?.destroy(logsTo != null && logsTo !== '' ? { logsTo } : {}) }
})
