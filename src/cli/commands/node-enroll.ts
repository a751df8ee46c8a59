import { readFile } from 'node:fs/promises'
import { enrollNode, NodeEnrollError } from '../../daemon/enroll/enroll-node.ts'
import { isKeyStoreKind } from '../../identity/choose-key-store.ts'
import { isKeyAlgorithm } from '../../identity/key-store.ts'
import { requirePassphrase } from '../../identity/passphrase.ts'
import { EXIT, parse, reportError, required, UsageError } from '../io.ts'
import type { CliIo } from '../io.ts'

export const usage = 'dadm-mesh node enroll --dir NODEDIR --ca-url URL --ca-cert ROOT.pem (--token T | --token-file F) [--node-id ID] [--key-algorithm P-256|Ed25519] [--key-store software|pkcs11|tpm|auto] [--pkcs11-module M] [--pkcs11-token L] [--pkcs11-pin-file F] [--tpm-tcti T] [--passphrase-file F]'

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
  const { values } = parse(args, {
    dir: { type: 'string' },
    'ca-url': { type: 'string' },
    'ca-cert': { type: 'string' },
    token: { type: 'string' },
    'token-file': { type: 'string' },
    'node-id': { type: 'string' },
    'key-algorithm': { type: 'string', default: 'P-256' },
    'key-store': { type: 'string', default: 'software' },
    'pkcs11-module': { type: 'string' },
    'pkcs11-token': { type: 'string' },
    'pkcs11-pin-file': { type: 'string' },
    'tpm-tcti': { type: 'string' },
    'passphrase-file': { type: 'string' }
  })
  const keyStore = values['key-store'] ?? 'software'
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
    if (keyStore === 'auto') { io.stdout.write(`key store: chose ${chosen.reason}\n`) }
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
