import { MeshCa } from '../../ca/index.ts'
import { isKeyAlgorithm } from '../../identity/key-store.ts'
import { requirePassphrase, resolvePassphrase } from '../../identity/passphrase.ts'
import { EXIT, nowOf, parseCommand, reportError, required, UsageError } from '../io.ts'
import { CA_INIT } from '../specs/ca-init.ts'
import type { CliIo } from '../io.ts'

/**
 * `ca init`: creates the CA (root, issuing intermediate unless --no-intermediate, keys, ca.json,
 * store). With `--key-store pkcs11` the CA keys are created in the token (P-256, never
 * extractable) and every certificate and CRL is signed there; the PIN comes from
 * `--pkcs11-pin-file` (recorded in ca.json as a path) or DADM_MESH_PKCS11_PIN at every start.
 */
export async function caInit (args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommand(args, CA_INIT)
  const dir = required(values.dir, '--dir')
  const alg = values['key-alg'] ?? 'P-256'
  if (!isKeyAlgorithm(alg)) { throw new UsageError('--key-alg must be P-256 or Ed25519') }
  const keyStore = values['key-store'] ?? 'software'
  if (keyStore !== 'software' && keyStore !== 'pkcs11') { throw new UsageError('--key-store must be software or pkcs11') }
  if (keyStore === 'pkcs11' && alg !== 'P-256') { throw new UsageError('a PKCS#11 CA key is P-256') }
  try {
    const pkcs11 = keyStore === 'pkcs11'
      ? {
          tokenLabel: required(values['pkcs11-token'], '--pkcs11-token'),
          env: io.env,
          ...(values['pkcs11-module'] != null ? { module: values['pkcs11-module'] } : {}),
          ...(values['pkcs11-pin-file'] != null ? { pinFile: values['pkcs11-pin-file'] } : {})
        }
      : undefined
    // A token CA has no key files to encrypt; a software one must have a passphrase.
    const passphrase = pkcs11 != null
      ? await resolvePassphrase({ env: io.env, passphraseFile: values['passphrase-file'] })
      : await requirePassphrase({ env: io.env, passphraseFile: values['passphrase-file'] })
    const ca = await MeshCa.init({ dir, passphrase, keyAlgorithm: alg, intermediate: values['no-intermediate'] !== true, now: nowOf(io), ...(pkcs11 != null ? { pkcs11 } : {}) })
    try {
      if (values.json) {
        io.stdout.write(JSON.stringify({
          dir,
          key_store: keyStore,
          ...(pkcs11 != null ? { pkcs11_token: pkcs11.tokenLabel } : {}),
          root: { file: `${dir}/root.pem`, serial: ca.rootCertificate.serialHex, subject: ca.rootCertificate.subject.text },
          issuing: { file: `${dir}/ca-chain.pem`, serial: ca.issuingCertificate.serialHex, subject: ca.issuingCertificate.subject.text }
        }, null, 2) + '\n')
      } else {
        io.stdout.write(`created CA in ${dir}${pkcs11 != null ? ` (keys in PKCS#11 token ${pkcs11.tokenLabel})` : ''}\n`)
        io.stdout.write(`  trust anchor:   ${dir}/root.pem (root serial ${ca.rootCertificate.serialHex})\n`)
        io.stdout.write(`  issuing chain:  ${dir}/ca-chain.pem (issuer ${ca.issuingCertificate.subject.text})\n`)
      }
    } finally {
      await ca.close()
    }
    return EXIT.OK
  } catch (err) {
    return reportError(io, err)
  }
}
