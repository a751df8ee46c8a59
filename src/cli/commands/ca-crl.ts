import { EXIT, nowOf, parse, reportError, required } from '../io.ts'
import { withCa } from './ca-common.ts'
import type { CliIo } from '../io.ts'

export const usage = 'dadm-mesh ca crl --dir DIR [--root] [--passphrase-file F]'

/** `ca crl`: prints the current CRL as PEM (the issuing CA's, or with --root the root's). */
export async function caCrl (args: string[], io: CliIo): Promise<number> {
  const { values } = parse(args, {
    dir: { type: 'string' },
    root: { type: 'boolean', default: false },
    'passphrase-file': { type: 'string' }
  })
  const dir = required(values.dir, '--dir')
  try {
    return await withCa(dir, values['passphrase-file'], io, async ca => {
      const crl = await ca.currentCrl(nowOf(io), values.root === true ? 'root' : 'issuing')
      io.stdout.write(crl.pem)
      return EXIT.OK
    })
  } catch (err) {
    return reportError(io, err)
  }
}
