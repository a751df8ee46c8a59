import { join } from 'node:path'
import { openStore } from '../../store/mesh-store.ts'
import { NodeRuntimeError } from './errors.ts'
import { isProcessAlive, readRunFile } from './run-file.ts'
import type { MeshStore } from '../../store/mesh-store.ts'

/*
 * Claiming a node directory at start: one process runs a node at a time. The run file names the
 * running pid; LevelDB's own lock catches a process that left no run file.
 */

/** Refuses when another live process runs the node in `dir`. */
export async function refuseIfRunning (dir: string): Promise<void> {
  const run = await readRunFile(dir).catch(() => undefined)
  if (run != null && run.pid !== process.pid && isProcessAlive(run.pid)) {
    throw new NodeRuntimeError('ALREADY_RUNNING', `pid ${run.pid} already runs the node in ${dir}`)
  }
}

/** Opens the node's store; a store another process holds is ALREADY_RUNNING, not a crash. */
export async function openNodeStore (dir: string): Promise<MeshStore> {
  try {
    return await openStore(join(dir, 'db'))
  } catch (err) {
    const e = err as { code?: unknown, cause?: { code?: unknown } }
    if (e.code === 'LEVEL_LOCKED' || e.cause?.code === 'LEVEL_LOCKED') {
      throw new NodeRuntimeError('ALREADY_RUNNING', `${dir}/db is held by another process`, { cause: err })
    }
    throw err
  }
}
