import { NodeRuntimeError } from '../../daemon/runtime/errors.ts'
import { openNodeCredentials } from '../../daemon/runtime/node-credentials.ts'
import { requireRunningNode } from '../../daemon/runtime/run-file.ts'
import { refuseIfRevoked } from '../../daemon/runtime/self-revocation.ts'
import { requirePassphrase } from '../../identity/passphrase.ts'
import { issueSessionCredential } from '../../pki/session-cert.ts'
import { nowOf } from '../io.ts'
import type { NodeApiClientOptions } from '../../daemon/api/client.ts'
import type { CliIo } from '../io.ts'

/** Lifetime of the session certificate a command signs for its request. */
const CLIENT_SESSION_MS = 5 * 60_000

/**
 * Client options for the running node of NODEDIR (found through run.json), as the node itself:
 * its identity key signs a short API session certificate, and the server must prove it is the
 * node of NODEDIR. What `node peers` does, for the commands that came after it.
 */
export async function nodeApiSession (dir: string, io: CliIo, passphraseFile: string | undefined): Promise<NodeApiClientOptions> {
  // A revoked node's own API refuses its certificate: say why before trying.
  await refuseIfRevoked(dir)
  const run = await requireRunningNode(dir)
  if (run.api_url == null) { throw new NodeRuntimeError('NOT_RUNNING', `the node in ${dir} runs without its admin API (--no-api)`) }
  const passphrase = await requirePassphrase({ env: io.env, passphraseFile })
  const creds = await openNodeCredentials(dir, passphrase, { env: io.env })
  let credential
  try {
    credential = await issueSessionCredential({ signer: creds.identity.signer(), nodeChain: creds.chain, now: nowOf(io), validityMs: CLIENT_SESSION_MS })
  } finally {
    // The identity key signed the session; a PKCS#11 session need not stay open for the request.
    await creds.closeIdentity()
  }
  return {
    url: run.api_url,
    credential,
    expectedPeerId: creds.file.peer_id,
    expectedNodeId: creds.file.node_id,
    roots: creds.roots,
    intermediates: creds.intermediates,
    now: () => nowOf(io)
  }
}
