import { runSimCommand } from './cli/command.ts'

/** `npm run sim -- [options]`: the harness's command line (same as `dadm-mesh sim`). */
process.exitCode = await runSimCommand(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr })
