import { writeFile } from 'node:fs/promises'
import { isCanonicalPeerId } from '../../ca/csr-policy.ts'
import { createCsr } from '../../ca/index.ts'
import { requirePassphrase } from '../../identity/passphrase.ts'
import { peerIdFromEd25519Spki } from '../../identity/peer-id.ts'
import { loadKeyFile } from '../../identity/software-key-store.ts'
import { isValidNodeId } from '../../pki/node-identity.ts'
import { derToPem } from '../../util/pem.ts'
import { EXIT, parseCommand, reportError, required, UsageError } from '../io.ts'
import { CSR } from '../specs/csr.ts'
import type { CliIo } from '../io.ts'

/**
 * `csr`: writes a node CSR (PEM) signed by KEY. The PeerId is required by the CA; without
 * --peer-id it is derived from an Ed25519 key (the key then doubles as the libp2p host key), and
 * a P-256 key needs --peer-id.
 */
export async function csr (args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommand(args, CSR)
  const keyPath = required(values.key, '--key')
  const nodeId = required(values['node-id'], '--node-id')
  const out = required(values.out, '--out')
  if (!isValidNodeId(nodeId)) { throw new UsageError('--node-id must be 1-64 chars of [A-Za-z0-9._-], not starting with "."') }
  if (values['peer-id'] != null && !isCanonicalPeerId(values['peer-id'])) { throw new UsageError('--peer-id is not a libp2p PeerId') }
  try {
    const passphrase = await requirePassphrase({ env: io.env, passphraseFile: values['passphrase-file'] })
    const key = await loadKeyFile(keyPath, passphrase)
    let peerId = values['peer-id']
    if (peerId == null) {
      if (key.algorithm !== 'Ed25519') { throw new UsageError('a P-256 key needs --peer-id (the PeerId of the node\'s libp2p host key)') }
      peerId = peerIdFromEd25519Spki(key.publicKeySpki)
    }
    const der = await createCsr(key, { nodeId, peerId })
    await writeFile(out, derToPem(der, 'CERTIFICATE REQUEST'), { mode: 0o644 })
    io.stdout.write(values.json ? JSON.stringify({ file: out, node_id: nodeId, peer_id: peerId }) + '\n' : `wrote CSR for node_id ${nodeId}, peer ${peerId} to ${out}\n`)
    return EXIT.OK
  } catch (err) {
    return reportError(io, err)
  }
}
