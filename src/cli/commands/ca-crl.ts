import { storedCrlIfFresh } from '../../ca/ca-crl.ts'
import { resolvePassphrase } from '../../identity/passphrase.ts'
import { EXIT, nowOf, parseCommand, reportError, required } from '../io.ts'
import { CA_CRL } from '../specs/ca-crl.ts'
import { withCaStoreOnly } from './ca-admin.ts'
import { withCa } from './ca-common.ts'
import type { CrlInfo } from '../../ca/ca-crl.ts'
import type { CliIo } from '../io.ts'

async function storedCrlReadOnly (dir: string, scope: 'issuing' | 'root', now: Date): Promise<CrlInfo | undefined> {
  return withCaStoreOnly(dir, async (opened) => {
    return storedCrlIfFresh(opened.store, scope, now)
  })
}

/** `ca crl`: prints the current CRL as PEM (the issuing CA's, or with --root the root's). */
export async function caCrl (args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommand(args, CA_CRL)
  const dir = required(values.dir, '--dir')
  try {
    // Printing the stored CRL is a read: no passphrase unless a new one must be signed.
    if (await resolvePassphrase({ env: io.env, passphraseFile: values['passphrase-file'] }) == null) {
      const stored = await storedCrlReadOnly(dir, values.root === true ? 'root' : 'issuing', nowOf(io))
      if (stored != null) {
        io.stdout.write(stored.pem)
        return EXIT.OK
      }
    }
    return await withCa(dir, values['passphrase-file'], io, async ca => {
      const crl = await ca.currentCrl(nowOf(io), values.root === true ? 'root' : 'issuing')
      io.stdout.write(crl.pem)
      return EXIT.OK
    })
  } catch (err) {
    return reportError(io, err)
  }
}
