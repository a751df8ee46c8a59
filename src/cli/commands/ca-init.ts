import { isKeyAlgorithm } from '../../identity/key-store.ts'
import { requirePassphrase } from '../../identity/passphrase.ts'
import { MeshCa } from '../../pki/ca/index.ts'
import { EXIT, nowOf, parse, reportError, required, UsageError } from '../io.ts'
import type { CliIo } from '../io.ts'

export const usage = 'dadm-mesh ca init --dir DIR [--key-alg P-256|Ed25519] [--no-intermediate] [--passphrase-file F]'

/** `ca init`: creates the CA (root, issuing intermediate unless --no-intermediate, keys, ca.json, store). */
export async function caInit (args: string[], io: CliIo): Promise<number> {
  const { values } = parse(args, {
    dir: { type: 'string' },
    'key-alg': { type: 'string', default: 'P-256' },
    'no-intermediate': { type: 'boolean', default: false },
    'passphrase-file': { type: 'string' }
  })
  const dir = required(values.dir, '--dir')
  const alg = values['key-alg'] ?? 'P-256'
  if (!isKeyAlgorithm(alg)) { throw new UsageError('--key-alg must be P-256 or Ed25519') }
  try {
    const passphrase = await requirePassphrase({ env: io.env, passphraseFile: values['passphrase-file'] })
    const ca = await MeshCa.init({ dir, passphrase, keyAlgorithm: alg, intermediate: values['no-intermediate'] !== true, now: nowOf(io) })
    try {
      io.stdout.write(`created CA in ${dir}\n`)
      io.stdout.write(`  trust anchor:   ${dir}/root.pem (root serial ${ca.rootCertificate.serialHex})\n`)
      io.stdout.write(`  issuing chain:  ${dir}/ca-chain.pem (issuer ${ca.issuingCertificate.subject.text})\n`)
    } finally {
      await ca.close()
    }
    return EXIT.OK
  } catch (err) {
    return reportError(io, err)
  }
}
