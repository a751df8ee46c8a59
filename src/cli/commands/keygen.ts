import { isKeyAlgorithm } from '../../identity/key-store.ts'
import { requirePassphrase } from '../../identity/passphrase.ts'
import { peerIdFromEd25519Spki } from '../../identity/peer-id.ts'
import { generateKeyFile } from '../../identity/software-key-store.ts'
import { derToPem } from '../../util/pem.ts'
import { EXIT, parse, reportError, required, UsageError } from '../io.ts'
import type { CliIo } from '../io.ts'

export const usage = 'dadm-mesh keygen --out KEY [--alg Ed25519|P-256] [--passphrase-file F]'

/**
 * `keygen`: writes a new node key, encrypted (0600), refusing to overwrite or to write without a
 * passphrase. Prints the public key, and for Ed25519 the PeerId it gives when used as host key.
 */
export async function keygen (args: string[], io: CliIo): Promise<number> {
  const { values } = parse(args, {
    out: { type: 'string' },
    alg: { type: 'string', default: 'Ed25519' },
    'passphrase-file': { type: 'string' }
  })
  const out = required(values.out, '--out')
  const alg = values.alg ?? 'Ed25519'
  if (!isKeyAlgorithm(alg)) { throw new UsageError('--alg must be Ed25519 or P-256') }
  try {
    const passphrase = await requirePassphrase({ env: io.env, passphraseFile: values['passphrase-file'] })
    const key = await generateKeyFile(out, alg, passphrase)
    io.stdout.write(`wrote ${alg} key to ${out}\n`)
    io.stdout.write(derToPem(key.publicKeySpki, 'PUBLIC KEY'))
    if (alg === 'Ed25519') { io.stdout.write(`peer_id ${peerIdFromEd25519Spki(key.publicKeySpki)}\n`) }
    return EXIT.OK
  } catch (err) {
    return reportError(io, err)
  }
}
