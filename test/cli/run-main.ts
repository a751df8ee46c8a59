import { main } from '../../src/cli/main.ts'
import type { CliIo } from '../../src/cli/io.ts'

/** What one command printed, and its exit code. */
export interface CliRun { code: number, stdout: string, stderr: string }

/**
 * The CLI in this process, with its output captured. `env` is the whole environment it sees, so a
 * test that passes no passphrase proves the command never reached for one.
 */
export async function runMain (argv: string[], env: CliIo['env'] = {}, extra: Omit<CliIo, 'stdout' | 'stderr' | 'env'> = {}): Promise<CliRun> {
  let stdout = ''
  let stderr = ''
  const code = await main(argv, { ...extra, stdout: { write: (s: string) => { stdout += s } }, stderr: { write: (s: string) => { stderr += s } }, env })
  return { code, stdout, stderr }
}
