import { readFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { enrollNode, NodeEnrollError } from '../../daemon/enroll/enroll-node.ts'
import { isKeyStoreKind } from '../../identity/choose-key-store.ts'
import { isKeyAlgorithm } from '../../identity/key-store.ts'
import { requirePassphrase } from '../../identity/passphrase.ts'
import { EXIT, parseCommand, reportError, required, UsageError } from '../io.ts'
import { NODE_ENROLL } from '../specs/node-enroll.ts'
import type { CliIo } from '../io.ts'

/** Largest file read for --ca-cert and --token-file. */
const MAX_INPUT_BYTES = 256 * 1024

async function readSmall (path: string, what: string): Promise<string> {
  const bytes = await readFile(path)
  if (bytes.length > MAX_INPUT_BYTES) { throw new UsageError(`${what} ${path} is too large`) }
  return bytes.toString('utf8')
}

/**
 * `node enroll`: generates the node's identity key (in the `--key-store` backend) and libp2p host
 * key, enrolls with the CA over HTTPS trusting only the pinned `--ca-cert` (with a TPM quote when
 * the node has a TPM), and stores certificate, chain, root, config and node.json in NODEDIR.
 * `--token-file` keeps the token out of the process list; the token PIN comes from
 * `--pkcs11-pin-file` or DADM_MESH_PKCS11_PIN, never from the command line.
 */
export async function nodeEnroll (args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommand(args, NODE_ENROLL)
  // Hardware where the device has it (seed §1): auto unless the operator names a store.
  const keyStore = values['key-store'] ?? 'auto'
  if (!isKeyStoreKind(keyStore)) { throw new UsageError('--key-store must be software, pkcs11, tpm or auto') }
  const dir = required(values.dir, '--dir')
  const caUrl = required(values['ca-url'], '--ca-url')
  const caCert = required(values['ca-cert'], '--ca-cert')
  if ((values.token == null) === (values['token-file'] == null)) { throw new UsageError('give exactly one of --token and --token-file') }
  const alg = values['key-algorithm'] ?? 'P-256'
  if (!isKeyAlgorithm(alg)) { throw new UsageError('--key-algorithm must be P-256 or Ed25519') }
  let url: URL
  try {
    url = new URL(caUrl)
  } catch {
    throw new UsageError(`--ca-url ${JSON.stringify(caUrl)} is not a URL`)
  }
  if (url.protocol !== 'https:') { throw new UsageError('--ca-url must be an https:// URL') }
  try {
    const passphrase = await requirePassphrase({ env: io.env, passphraseFile: values['passphrase-file'] })
    const caCertPem = await readSmall(caCert, '--ca-cert')
    const token = values.token ?? (await readSmall(values['token-file'] as string, '--token-file')).trim()
    const tcti = values['tpm-tcti']
    // Said before the request, so an operator sees what was asked even when the CA refuses it.
    const askedId = values['node-id'] ?? hostname()
    if (values.json !== true) { io.stdout.write(`asking for node_id ${askedId} (${values['node-id'] != null ? 'from --node-id' : 'this machine\'s hostname, the default; --node-id sets another'})\n`) }
    const { node, keyStore: chosen } = await enrollNode({
      dir,
      caUrl,
      caCertPem,
      token,
      passphrase,
      keyAlgorithm: alg,
      keyStore,
      keyStoreOptions: {
        env: io.env,
        ...(values['pkcs11-module'] != null ? { pkcs11Module: values['pkcs11-module'] } : {}),
        ...(values['pkcs11-token'] != null ? { pkcs11Token: values['pkcs11-token'] } : {}),
        ...(values['pkcs11-pin-file'] != null ? { pkcs11PinFile: values['pkcs11-pin-file'] } : {}),
        ...(tcti != null ? { tpmTcti: tcti } : {})
      },
      ...(tcti != null ? { attestTcti: tcti } : {}),
      ...(values['node-id'] != null ? { nodeId: values['node-id'] } : {}),
      ...(io.now != null ? { now: io.now } : {})
    })
    if (values.json) {
      io.stdout.write(JSON.stringify({ node_id: node.node_id, peer_id: node.peer_id, serial: node.serial, not_after: node.not_after, key_store: node.identity_key.store, key_store_reason: chosen.reason, attestation_tcti: node.attestation?.tcti ?? null }, null, 2) + '\n')
      return EXIT.OK
    }
    io.stdout.write(keyStore === 'auto' ? `key store: auto chose ${chosen.reason} (--key-store names one)\n` : `key store: ${chosen.reason} (from --key-store)\n`)
    io.stdout.write(`identity key in ${node.identity_key.store}${node.attestation != null ? `, attested with the TPM at ${node.attestation.tcti}` : ''}\n`)
    io.stdout.write(`enrolled ${node.node_id} (peer ${node.peer_id}), certificate ${node.serial} valid until ${node.not_after}\n`)
    return EXIT.OK
  } catch (err) {
    if (err instanceof NodeEnrollError && err.serverCode != null) {
      io.stderr.write(`error: ${err.code}: ${err.serverCode} (HTTP ${err.status ?? '?'}): ${err.message}\n`)
      return EXIT.FAIL
    }
    return reportError(io, err)
  }
}
