import { isKeyAlgorithm } from '../../identity/key-store.ts'
import { requirePassphrase } from '../../identity/passphrase.ts'
import { peerIdFromEd25519Spki } from '../../identity/peer-id.ts'
import { generateKeyFile } from '../../identity/software-key-store.ts'
import { derToPem } from '../../util/pem.ts'
import { EXIT, parseCommand, reportError, required, UsageError } from '../io.ts'
import { KEYGEN } from '../specs/keygen.ts'
import type { CliIo } from '../io.ts'

/**
 * `keygen`: writes a new node key, encrypted (0600), refusing to overwrite or to write without a
 * passphrase. Prints the public key, and for Ed25519 the PeerId it gives when used as host key.
 */
export async function keygen (args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommand(args, KEYGEN)
  const out = required(values.out, '--out')
  const alg = values.alg ?? 'Ed25519'
  if (!isKeyAlgorithm(alg)) { throw new UsageError('--alg must be Ed25519 or P-256') }
  try {
    const passphrase = await requirePassphrase({ env: io.env, passphraseFile: values['passphrase-file'] })
    const key = await generateKeyFile(out, alg, passphrase)
    const peerId = alg === 'Ed25519' ? peerIdFromEd25519Spki(key.publicKeySpki) : undefined
    if (values.json) {
      io.stdout.write(JSON.stringify({ file: out, algorithm: alg, public_key_pem: derToPem(key.publicKeySpki, 'PUBLIC KEY'), peer_id: peerId ?? null }, null, 2) + '\n')
      return EXIT.OK
    }
    io.stdout.write(`wrote ${alg} key to ${out}\n`)
    io.stdout.write(derToPem(key.publicKeySpki, 'PUBLIC KEY'))
    if (peerId != null) { io.stdout.write(`peer_id ${peerId}\n`) }
    return EXIT.OK
  } catch (err) {
    return reportError(io, err)
  }
}
