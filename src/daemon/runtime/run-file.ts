import { readFile, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileAtomic } from '../enroll/node-files.ts'
import { NodeRuntimeError } from './errors.ts'

/**
 * `NODEDIR/run.json`: how other `--dir NODEDIR` commands find the running node (its admin API),
 * since they must never open its LevelDB a second time. Written once the node listens, removed
 * when it stops; a file whose pid is gone is stale and ignored.
 */
export interface RunFile {
  version: 1
  pid: number
  node_id: string
  peer_id: string
  /** Base URL of the admin API, or null when it is off. */
  api_url: string | null
  multiaddrs: string[]
  started_at: string
}

const MAX_RUN_FILE_BYTES = 64 * 1024

export function runFilePath (dir: string): string {
  return join(dir, 'run.json')
}

export async function writeRunFile (dir: string, run: RunFile): Promise<void> {
  await writeFileAtomic(runFilePath(dir), JSON.stringify(run, null, 2) + '\n', 0o600)
}

/** The run file, or undefined when there is none. Throws NODE_DIR_INVALID for one that is not ours. */
export async function readRunFile (dir: string): Promise<RunFile | undefined> {
  let bytes: Buffer
  try {
    bytes = await readFile(runFilePath(dir))
  } catch (err: any) {
    if (err.code === 'ENOENT') { return undefined }
    throw err
  }
  if (bytes.length > MAX_RUN_FILE_BYTES) { throw new NodeRuntimeError('NODE_DIR_INVALID', 'run.json is too large') }
  let run: RunFile
  try {
    run = JSON.parse(bytes.toString('utf8'))
  } catch (err) {
    throw new NodeRuntimeError('NODE_DIR_INVALID', 'run.json is not JSON', { cause: err })
  }
  if (run?.version !== 1 || !Number.isSafeInteger(run.pid) || run.pid <= 0 || !Array.isArray(run.multiaddrs)) {
    throw new NodeRuntimeError('NODE_DIR_INVALID', 'run.json is not a run file')
  }
  return run
}

/** Removes the run file if it is ours (same pid): a newer process's file is left alone. */
export async function removeRunFile (dir: string, pid = process.pid): Promise<void> {
  const run = await readRunFile(dir).catch(() => undefined)
  if (run?.pid !== pid) { return }
  await unlink(runFilePath(dir)).catch(() => {})
}

/** True when a process with `pid` exists (signal 0 probes without signalling). */
export function isProcessAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err: any) {
    return err.code === 'EPERM'
  }
}

/** The live run file of NODEDIR, or NOT_RUNNING. */
export async function requireRunningNode (dir: string): Promise<RunFile> {
  const run = await readRunFile(dir)
  if (run == null || !isProcessAlive(run.pid)) {
    throw new NodeRuntimeError('NOT_RUNNING', `no running node for ${dir}: start it with \`dadm-mesh node start --dir ${dir}\``)
  }
  return run
}
