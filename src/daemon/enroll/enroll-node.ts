import { hostname } from 'node:os'
import { join } from 'node:path'
import { parseAttestationPolicy } from '../../attestation/policy.ts'
import { Tpm } from '../../attestation/tpm.ts'
import { createCsr } from '../../ca/csr-builder.ts'
import { isEnrollmentErrorCode } from '../../enrollment/errors.ts'
import { chooseKeyStore } from '../../identity/choose-key-store.ts'
import { createHostKey, loadHostKey } from '../../identity/host-key.ts'
import { prepareIdentityKeyStore } from '../../identity/identity-key-store.ts'
import { parseCertificate } from '../../pki/certificate.ts'
import { isValidNodeId, nodeIdentity } from '../../pki/node-identity.ts'
import { bytesEqual } from '../../pki/signature.ts'
import { verifyChain } from '../../pki/verify-chain.ts'
import { ensurePrivateDir } from '../../util/file-mode.ts'
import { pathExists } from '../../util/path-exists.ts'
import { derToPem, pemToDerAll } from '../../util/pem.ts'
import { trackAttempt } from './attempt-cleanup.ts'
import { httpsRequestPinned } from './https-json.ts'
import { enrollmentEvidence } from './node-attest.ts'
import { NodeEnrollError } from './node-enroll-error.ts'
import { HOST_KEY_LABEL, IDENTITY_KEY_LABEL, nodePaths, readNodeFile, writeFileAtomic } from './node-files.ts'
import { enrollTransportError } from './tls-failure.ts'
import type { NodeFile } from './node-files.ts'
import type { IssuedResponseBody } from '../../enrollment/schemas.ts'
import type { KeyStoreChoice, KeyStoreKind, KeyStoreOptions } from '../../identity/choose-key-store.ts'
import type { KeyAlgorithm, KeyHandle, KeyStore } from '../../identity/key-store.ts'
import type { Certificate } from '../../pki/certificate.ts'

export { NodeEnrollError } from './node-enroll-error.ts'
export type { NodeEnrollErrorCode } from './node-enroll-error.ts'

export interface EnrollNodeOptions {
  dir: string
  /** Base URL of the enrollment service, e.g. https://ca.local:8443 */
  caUrl: string
  /** The mesh root(s) to pin, PEM: the only trust anchors used for the connection and the answer. */
  caCertPem: string
  token: string
  /** @default this host's name, when it is a valid node_id */
  nodeId?: string
  /** Encrypts the keys in NODEDIR/keys. */
  passphrase: string
  /** Identity key algorithm. @default 'P-256' (the only one tokens and TPMs hold) */
  keyAlgorithm?: KeyAlgorithm
  /** Where the identity key goes; `auto` picks a PKCS#11 token, else a TPM, else software. @default 'software' */
  keyStore?: KeyStoreKind
  /**
   * PKCS#11 module, token and PIN source, and the TPM (`tpmTcti`). A TPM that is given, chosen,
   * or found at /dev/tpmrm0 under `auto` also attests: the request carries a quote.
   */
  keyStoreOptions?: KeyStoreOptions
  /** Attest with this TPM (tpm2-tools TCTI) whatever the key store. */
  attestTcti?: string
  /** scrypt cost of the key files (tests lower it). */
  scryptLogN?: number
  now?(): Date
  timeoutMs?: number
}

/** What `enrollNode` stored, and which key store it used and why. */
export interface NodeEnrollment {
  node: NodeFile
  certificate: Certificate
  keyStore: KeyStoreChoice
}

/**
 * Enrolls this node: creates (or reuses, when NODEDIR already holds them) the identity key in the
 * chosen key store (software, PKCS#11, TPM) and the libp2p Ed25519 host key, builds the CSR with the
 * node_id and PeerId in its SAN, with a TPM adds a quote over a CA nonce and the identity key,
 * posts it with the token over HTTPS trusting only the pinned CA, checks that the answer is a
 * certificate for exactly our key, node_id and PeerId that chains to the pinned CA, and stores
 * certificate, chain, root and node.json in NODEDIR. A failed attempt removes what it created
 * in NODEDIR (the directory itself when it did not exist).
 */
export async function enrollNode (opts: EnrollNodeOptions): Promise<NodeEnrollment> {
  const now = opts.now ?? (() => new Date())
  const paths = nodePaths(opts.dir)
  if (await readNodeFile(opts.dir) != null) {
    throw new NodeEnrollError('ALREADY_ENROLLED', `${paths.nodeJson} exists: this node is enrolled (rotate instead, or use a new directory)`)
  }
  const nodeId = opts.nodeId ?? hostname()
  if (!isValidNodeId(nodeId)) {
    throw new NodeEnrollError('INVALID_NODE_ID', `node_id ${JSON.stringify(nodeId)} is not 1-64 characters of [A-Za-z0-9._-]${opts.nodeId == null ? '; pass --node-id' : ''}`)
  }
  // Whatever the attempt creates goes again if it fails: no key directory, no key file is left behind.
  const attempt = await trackAttempt(opts.dir)
  try {
    return await enrollInto(opts, nodeId, now)
  } catch (err) {
    await attempt.undo()
    throw err
  }
}

/** The attempt itself, from NODEDIR's creation on (what a failed attempt takes back): keys, request, answer, files. */
async function enrollInto (opts: EnrollNodeOptions, nodeId: string, now: () => Date): Promise<NodeEnrollment> {
  // NODEDIR holds the node's keys: the owner's only, also when it existed before with a wider mode.
  await ensurePrivateDir(opts.dir)
  let roots: Certificate[]
  try {
    roots = pemToDerAll(opts.caCertPem, 'CERTIFICATE').map(parseCertificate)
  } catch (err) {
    throw new NodeEnrollError('BAD_CA_CERT', 'the CA certificate file is not PEM certificates', { cause: err })
  }
  // 1. Keys (in the chosen backend); 2. evidence, CSR and request; 3. check the answer; 4. store.
  const choice = await chooseKeyStore(opts.keyStore ?? 'software', opts.keyStoreOptions)
  const env = { dir: opts.dir, passphrase: opts.passphrase, ...keyEnv(opts.keyStoreOptions), ...(opts.scryptLogN != null ? { scryptLogN: opts.scryptLogN } : {}) }
  const backend = await prepareIdentityKeyStore(choice.request, IDENTITY_KEY_LABEL, opts.keyAlgorithm ?? 'P-256', env)
  let identity: KeyHandle
  let peerId: string
  let csrPem: string
  let created = false
  try {
    created = !(await backend.store.has(IDENTITY_KEY_LABEL))
    const keys = await nodeKeys(opts, backend.store)
    identity = keys.identity
    peerId = keys.peerId
    csrPem = derToPem(await createCsr(identity, { nodeId, peerId }), 'CERTIFICATE REQUEST')
  } catch (err) {
    if (created) { await backend.store.delete(IDENTITY_KEY_LABEL).catch(() => {}) }
    throw err
  } finally {
    // Closed before tpm2-tools runs: a TPM without a resource manager (swtpm) serves one client.
    await backend.close()
  }
  try {
    return await requestAndStore(opts, { nodeId, roots, now, choice, identity, peerId, csrPem, ref: backend.ref })
  } catch (err) {
    // A key this attempt made in a token outlives NODEDIR: take it out again (a software key
    // goes with the directory). Reopened, since the session was closed for tpm2-tools.
    if (created && choice.request.store !== 'software') { await deleteIdentityKey(choice.request, opts, env) }
    throw err
  }
}

/** Deletes the identity key from its backend; a failure to do so is not the enrollment's error. */
async function deleteIdentityKey (request: KeyStoreChoice['request'], opts: EnrollNodeOptions, env: Parameters<typeof prepareIdentityKeyStore>[3]): Promise<void> {
  try {
    const again = await prepareIdentityKeyStore(request, IDENTITY_KEY_LABEL, opts.keyAlgorithm ?? 'P-256', env)
    try {
      await again.store.delete(IDENTITY_KEY_LABEL)
    } finally {
      await again.close()
    }
  } catch {
    // The token may have gone (unplugged, PIN changed): the refusal stays the error to report.
  }
}

/** Evidence, request, answer check and the files, once the keys and the CSR exist. */
async function requestAndStore (opts: EnrollNodeOptions, a: { nodeId: string, roots: Certificate[], now(): Date, choice: KeyStoreChoice, identity: KeyHandle, peerId: string, csrPem: string, ref: NodeFile['identity_key'] }): Promise<NodeEnrollment> {
  const { nodeId, roots, now, choice, identity, peerId, csrPem } = a
  const paths = nodePaths(opts.dir)
  const attestTcti = opts.attestTcti ?? (opts.keyStore === 'software' || opts.keyStore == null ? undefined : choice.tpmTcti)
  const attestation = attestTcti != null
    ? await enrollmentEvidence({ caUrl: opts.caUrl, caCertPem: opts.caCertPem, tpm: new Tpm({ tcti: attestTcti, dir: join(opts.dir, TPM_DIR) }), identitySpki: identity.publicKeySpki, ...(opts.timeoutMs != null ? { timeoutMs: opts.timeoutMs } : {}) })
    : undefined
  const issued = await postEnroll(opts, { token: opts.token, csr: csrPem, node_id: nodeId, ...(attestation != null ? { attestation } : {}) })
  const cert = checkAnswer(issued, roots, identity, nodeId, peerId, now())

  // Certificate material first, node.json last (its presence means "enrolled").
  await writeFileAtomic(paths.cert, issued.certificate, 0o644)
  await writeFileAtomic(paths.chain, issued.chain, 0o644)
  await writeFileAtomic(paths.root, opts.caCertPem, 0o644)
  const node: NodeFile = {
    version: 1,
    node_id: nodeId,
    peer_id: peerId,
    ca_url: opts.caUrl,
    serial: cert.serialHex,
    not_before: new Date(cert.notBefore).toISOString(),
    not_after: new Date(cert.notAfter).toISOString(),
    enrolled_at: now().toISOString(),
    identity_key: a.ref,
    host_key: { label: HOST_KEY_LABEL, algorithm: 'Ed25519' },
    ...(attestTcti != null ? { attestation: { tcti: attestTcti, dir: TPM_DIR } } : {}),
    config: meshConfigOf(issued.config)
  }
  await writeFileAtomic(paths.nodeJson, JSON.stringify(node, null, 2) + '\n', 0o600)
  return { node, certificate: cert, keyStore: choice }
}

/** NODEDIR subfolder for the attestation keys (EK and AK blobs). */
export const TPM_DIR = 'tpm'

function keyEnv (o: KeyStoreOptions | undefined): { pin?: string, env?: Record<string, string | undefined> } {
  return { ...(o?.pin != null ? { pin: o.pin } : {}), ...(o?.env != null ? { env: o.env } : {}) }
}

/** The identity key and host key, reusing those NODEDIR already holds (keys the operator placed there). */
async function nodeKeys (opts: EnrollNodeOptions, keys: KeyStore): Promise<{ identity: KeyHandle, peerId: string }> {
  const paths = nodePaths(opts.dir)
  const fileOptions = opts.scryptLogN != null ? { scryptLogN: opts.scryptLogN } : {}
  const identity = await keys.has(IDENTITY_KEY_LABEL)
    ? await keys.load(IDENTITY_KEY_LABEL)
    : await keys.generate(IDENTITY_KEY_LABEL, opts.keyAlgorithm ?? 'P-256')
  const host = await pathExists(paths.hostKey)
    ? await loadHostKey(paths.hostKey, opts.passphrase)
    : await createHostKey(paths.hostKey, opts.passphrase, fileOptions)
  return { identity, peerId: host.peerId.toString() }
}

/** POSTs the enrollment; a non-200 answer is REFUSED with the service's catalogue code. */
async function postEnroll (opts: EnrollNodeOptions, request: { token: string, csr: string, node_id: string, attestation?: Record<string, unknown> }): Promise<IssuedResponseBody> {
  const url = new URL('/v1/enroll', opts.caUrl).toString()
  let reply
  try {
    reply = await httpsRequestPinned('POST', url, Buffer.from(JSON.stringify(request)), {
      caPem: opts.caCertPem,
      ...(opts.timeoutMs != null ? { timeoutMs: opts.timeoutMs } : {})
    })
  } catch (err) {
    throw enrollTransportError(err, url)
  }
  const body = parseJson(reply.body)
  if (reply.status !== 200) {
    const code = body?.error?.code
    const known = isEnrollmentErrorCode(code)
    const detail = known && code === 'NODE_ID_TAKEN' ? `: ${takenHint(request.node_id, opts.nodeId == null)}` : ''
    throw new NodeEnrollError('REFUSED', `the CA refused enrollment: ${known ? code : `HTTP ${reply.status}`}${detail}`, {
      status: reply.status,
      ...(known ? { serverCode: code } : {})
    })
  }
  return body as IssuedResponseBody
}

/**
 * What an operator needs after NODE_ID_TAKEN: which node_id was sent (and that it was the host
 * name, when no --node-id was given: two directories on one host collide so) and the two ways on.
 */
function takenHint (nodeId: string, fromHostname: boolean): string {
  return `node_id ${JSON.stringify(nodeId)}${fromHostname ? ' (this host\'s name, used when no --node-id is given)' : ''} already has a live certificate at this CA, ` +
    'held by another node directory or machine. To enroll this directory as a separate node, choose another node_id with --node-id ID; ' +
    `to replace the node that holds it, ask the CA operator for a replacement token (dadm-mesh ca token --node-id ${nodeId} --replace)`
}

/** Trusts nothing in the answer until it is a certificate for our key, node_id and PeerId chaining to the pinned roots. */
function checkAnswer (issued: IssuedResponseBody, roots: Certificate[], identity: KeyHandle, nodeId: string, peerId: string, now: Date): Certificate {
  try {
    const cert = parseCertificate(pemToDerAll(issued.certificate, 'CERTIFICATE')[0])
    verifyChain(now, cert, pemToDerAll(issued.chain, 'CERTIFICATE'), roots, [], { expectedNodeId: nodeId, expectedPeerId: peerId })
    if (!bytesEqual(cert.spki, identity.publicKeySpki)) { throw new Error('the certificate does not certify our identity key') }
    nodeIdentity(cert)
    return cert
  } catch (err) {
    throw new NodeEnrollError('BAD_RESPONSE', `the CA's answer does not hold a valid certificate for this node: ${(err as Error).message}`, { cause: err })
  }
}

/** The mesh config from the answer, with only well-typed fields kept; an invalid attestation policy is refused. */
function meshConfigOf (c: Partial<IssuedResponseBody['config']> | undefined): NodeFile['config'] {
  let policy
  try {
    policy = c?.attestation_policy != null ? parseAttestationPolicy(c.attestation_policy) : undefined
  } catch (err) {
    throw new NodeEnrollError('BAD_RESPONSE', 'the CA sent an attestation policy this node cannot apply', { cause: err })
  }
  return {
    bootstrap_peers: Array.isArray(c?.bootstrap_peers) ? c.bootstrap_peers.filter(p => typeof p === 'string') : [],
    gossip_fanout: typeof c?.gossip_fanout === 'number' && Number.isSafeInteger(c.gossip_fanout) ? c.gossip_fanout : 6,
    crl_url: typeof c?.crl_url === 'string' ? c.crl_url : '',
    ...(policy != null ? { attestation_policy: policy } : {})
  }
}

function parseJson (body: Buffer): any {
  try {
    return JSON.parse(body.toString('utf8'))
  } catch {
    return undefined
  }
}
