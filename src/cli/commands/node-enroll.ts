import { readFile } from 'node:fs/promises'
import { enrollNode, NodeEnrollError } from '../../enrollment/node/enroll-node.ts'
import { isKeyAlgorithm } from '../../identity/key-store.ts'
import { requirePassphrase } from '../../identity/passphrase.ts'
import { EXIT, parse, reportError, required, UsageError } from '../io.ts'
import type { CliIo } from '../io.ts'

export const usage = 'dadm-mesh node enroll --dir NODEDIR --ca-url URL --ca-cert ROOT.pem (--token T | --token-file F) [--node-id ID] [--key-algorithm P-256|Ed25519] [--passphrase-file F]'

/** Largest file read for --ca-cert and --token-file. */
const MAX_INPUT_BYTES = 256 * 1024

async function readSmall (path: string, what: string): Promise<string> {
  const bytes = await readFile(path)
  if (bytes.length > MAX_INPUT_BYTES) { throw new UsageError(`${what} ${path} is too large`) }
  return bytes.toString('utf8')
}

/**
 * `node enroll`: generates the node's identity key (key store) and libp2p host key, enrolls with
 * the CA over HTTPS trusting only the pinned `--ca-cert`, and stores certificate, chain, root,
 * config and node.json in NODEDIR. `--token-file` keeps the token out of the process list.
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
    'passphrase-file': { type: 'string' }
  })
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
    const { node } = await enrollNode({
      dir,
      caUrl,
      caCertPem,
      token,
      passphrase,
      keyAlgorithm: alg,
      ...(values['node-id'] != null ? { nodeId: values['node-id'] } : {}),
      ...(io.now != null ? { now: io.now } : {})
    })
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
