import { stat } from 'node:fs/promises'
import { refuseCaPassphrase } from '../../ca/admin-key-passphrase.ts'
import { createCsr } from '../../ca/csr-builder.ts'
import { ADMIN_KEY_PASSPHRASE_ENV, resolveAdminKeyPassphrase, resolvePassphrase } from '../../identity/passphrase.ts'
import { encryptPkcs8Pem } from '../../identity/pkcs8-encrypt.ts'
import { generatePkcs8, softwareKeyFromPkcs8 } from '../../identity/software-key.ts'
import { isValidNodeId } from '../../pki/node-identity.ts'
import { writeFileExclusive } from '../../util/atomic-file.ts'
import { derToPem } from '../../util/pem.ts'
import { EXIT, nowOf, parseCommand, parseDuration, reportError, required, UsageError } from '../io.ts'
import { CA_ADMIN_CERT } from '../specs/ca-admin-cert.ts'
import { withAdminOps } from './ca-admin.ts'
import type { CliIo } from '../io.ts'

/**
 * `ca admin-cert`: an operator credential for `POST /v1/revoke`. The key is generated here and
 * never leaves this process unencrypted: only its CSR goes to the CA (directly, or to the running
 * service over the admin socket). The key is written as encrypted PKCS#8 PEM (PBES2: PBKDF2-SHA256
 * at 600,000 iterations, AES-256-CBC; the form curl `--key/--pass`, openssl and node:tls
 * `passphrase` read) under its own passphrase (`--key-passphrase-file` or
 * DADM_MESH_ADMIN_KEY_PASSPHRASE), which must not be the CA's: the admin key travels, the CA
 * passphrase must not. Every check on the passphrase runs before the CA is asked for anything, so
 * a refused command issues nothing. The certificate file holds leaf then chain.
 */
export async function caAdminCert (args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommand(args, CA_ADMIN_CERT)
  const dir = required(values.dir, '--dir')
  const name = required(values.name, '--name')
  const outCert = required(values['out-cert'], '--out-cert')
  const outKey = required(values['out-key'], '--out-key')
  if (!isValidNodeId(name)) { throw new UsageError('--name must be 1-64 characters of [A-Za-z0-9._-], not starting with "."') }
  const validitySeconds = values.validity != null ? parseDuration(values.validity) : undefined
  for (const p of [outCert, outKey]) {
    if (await stat(p).then(() => true, () => false)) {
      io.stderr.write(`error: FILE_EXISTS: ${p} already exists; refusing to overwrite\n`)
      return EXIT.FAIL
    }
  }
  try {
    const keyPass = await resolveAdminKeyPassphrase({ env: io.env, ...(values['key-passphrase-file'] != null ? { keyPassphraseFile: values['key-passphrase-file'] } : {}) })
    if (keyPass == null) {
      throw new UsageError(`the admin key needs its own passphrase: --key-passphrase-file F or ${ADMIN_KEY_PASSPHRASE_ENV} (not the CA passphrase)`)
    }
    await refuseCaPassphrase(dir, keyPass, await resolvePassphrase({ env: io.env, passphraseFile: values['passphrase-file'] }))
    const pkcs8 = await generatePkcs8('P-256')
    try {
      const handle = await softwareKeyFromPkcs8(name, 'P-256', pkcs8, false)
      const csrPem = derToPem(await createCsr(handle, { adminName: name }), 'CERTIFICATE REQUEST')
      // Encrypted before the CA is asked, so a certificate is never issued for a key we then fail to protect.
      const keyPem = await encryptPkcs8Pem(pkcs8, keyPass)
      const issued = await withAdminOps(dir, values['passphrase-file'], io, async ops =>
        ops.issueAdminCert({ csrPem, name, ...(validitySeconds != null ? { validitySeconds } : {}) }, nowOf(io)))
      await writeFileExclusive(outKey, keyPem, 0o600)
      await writeFileExclusive(outCert, issued.certificatePem + issued.chainPem, 0o644)
      io.stdout.write(values.json
        ? JSON.stringify({ name, serial: issued.serialHex, not_after: new Date(issued.notAfter).toISOString(), cert_file: outCert, key_file: outKey }, null, 2) + '\n'
        : `admin certificate for ${name}: serial ${issued.serialHex}, valid until ${new Date(issued.notAfter).toISOString()}\n`)
      return EXIT.OK
    } finally {
      pkcs8.fill(0)
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      io.stderr.write('error: FILE_EXISTS: --out-cert or --out-key already exists; refusing to overwrite\n')
      return EXIT.FAIL
    }
    return reportError(io, err)
  }
}
