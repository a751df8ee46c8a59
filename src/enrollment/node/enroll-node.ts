import { stat } from 'node:fs/promises'
import { hostname } from 'node:os'
import { MeshError } from '../../errors.ts'
import { SoftwareKeyStore } from '../../identity/software-key-store.ts'
import { createCsr } from '../../pki/ca/csr-builder.ts'
import { parseCertificate } from '../../pki/certificate.ts'
import { isValidNodeId, nodeIdentity } from '../../pki/node-identity.ts'
import { derToPem, pemToDerAll } from '../../pki/pem.ts'
import { bytesEqual } from '../../pki/signature.ts'
import { verifyChain } from '../../pki/verify-chain.ts'
import { isEnrollmentErrorCode } from '../errors.ts'
import { createHostKey, loadHostKey } from './host-key.ts'
import { httpsRequestPinned } from './https-json.ts'
import { HOST_KEY_LABEL, IDENTITY_KEY_LABEL, nodePaths, readNodeFile, writeFileAtomic } from './node-files.ts'
import type { KeyAlgorithm, KeyHandle } from '../../identity/key-store.ts'
import type { Certificate } from '../../pki/certificate.ts'
import type { EnrollmentErrorCode } from '../errors.ts'
import type { IssuedResponseBody } from '../schemas.ts'
import type { NodeFile } from './node-files.ts'

export type NodeEnrollErrorCode =
  | 'ALREADY_ENROLLED' // NODEDIR already holds node.json
  | 'INVALID_NODE_ID'
  | 'BAD_CA_CERT' // the pinned CA file is not PEM certificates
  | 'UNREACHABLE' // TLS or network failure (a wrong pinned CA shows up here too)
  | 'REFUSED' // the CA answered with an error; `serverCode` says which
  | 'BAD_RESPONSE' // the answer is not a certificate for us that chains to the pinned CA

/** Raised by `enrollNode`; for REFUSED, `serverCode` is the service's catalogue code. */
export class NodeEnrollError extends MeshError<NodeEnrollErrorCode> {
  static name = 'NodeEnrollError'
  readonly serverCode?: EnrollmentErrorCode
  readonly status?: number

  constructor (code: NodeEnrollErrorCode, message: string, options?: ErrorOptions & { serverCode?: EnrollmentErrorCode, status?: number }) {
    super(code, message, options)
    if (options?.serverCode != null) { this.serverCode = options.serverCode }
    if (options?.status != null) { this.status = options.status }
  }
}

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
  /** Identity key algorithm. @default 'P-256' */
  keyAlgorithm?: KeyAlgorithm
  /** scrypt cost of the key files (tests lower it). */
  scryptLogN?: number
  now?(): Date
  timeoutMs?: number
}

/** What `enrollNode` stored. */
export interface NodeEnrollment {
  node: NodeFile
  certificate: Certificate
}

/**
 * Enrolls this node: creates (or, after a failed attempt, reuses) the identity key in the key
 * store and the libp2p Ed25519 host key, builds the CSR with the node_id and PeerId in its SAN,
 * posts it with the token over HTTPS trusting only the pinned CA, checks that the answer is a
 * certificate for exactly our key, node_id and PeerId that chains to the pinned CA, and stores
 * certificate, chain, root and node.json in NODEDIR.
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
  let roots: Certificate[]
  try {
    roots = pemToDerAll(opts.caCertPem, 'CERTIFICATE').map(parseCertificate)
  } catch (err) {
    throw new NodeEnrollError('BAD_CA_CERT', 'the CA certificate file is not PEM certificates', { cause: err })
  }

  // 1. Keys; 2. CSR and request; 3. check the answer; 4. store.
  const { identity, peerId } = await nodeKeys(opts)
  const csrPem = derToPem(await createCsr(identity, { nodeId, peerId }), 'CERTIFICATE REQUEST')
  const issued = await postEnroll(opts, { token: opts.token, csr: csrPem, node_id: nodeId })
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
    identity_key: { store: 'software', label: IDENTITY_KEY_LABEL, algorithm: identity.algorithm },
    host_key: { label: HOST_KEY_LABEL, algorithm: 'Ed25519' },
    config: meshConfigOf(issued.config)
  }
  await writeFileAtomic(paths.nodeJson, JSON.stringify(node, null, 2) + '\n', 0o600)
  return { node, certificate: cert }
}

/** The identity key and host key, reusing what a failed earlier attempt created (a retry needs no cleanup). */
async function nodeKeys (opts: EnrollNodeOptions): Promise<{ identity: KeyHandle, peerId: string }> {
  const paths = nodePaths(opts.dir)
  const fileOptions = opts.scryptLogN != null ? { scryptLogN: opts.scryptLogN } : {}
  const keys = new SoftwareKeyStore({ dir: paths.keys, passphrase: opts.passphrase, ...fileOptions })
  const identity = await keys.has(IDENTITY_KEY_LABEL)
    ? await keys.load(IDENTITY_KEY_LABEL)
    : await keys.generate(IDENTITY_KEY_LABEL, opts.keyAlgorithm ?? 'P-256')
  const host = await exists(paths.hostKey)
    ? await loadHostKey(paths.hostKey, opts.passphrase)
    : await createHostKey(paths.hostKey, opts.passphrase, fileOptions)
  return { identity, peerId: host.peerId.toString() }
}

/** POSTs the enrollment; a non-200 answer is REFUSED with the service's catalogue code. */
async function postEnroll (opts: EnrollNodeOptions, request: { token: string, csr: string, node_id: string }): Promise<IssuedResponseBody> {
  const url = new URL('/v1/enroll', opts.caUrl).toString()
  let reply
  try {
    reply = await httpsRequestPinned('POST', url, Buffer.from(JSON.stringify(request)), {
      caPem: opts.caCertPem,
      ...(opts.timeoutMs != null ? { timeoutMs: opts.timeoutMs } : {})
    })
  } catch (err) {
    throw new NodeEnrollError('UNREACHABLE', `cannot reach ${url} with the pinned CA: ${(err as Error).message}`, { cause: err })
  }
  const body = parseJson(reply.body)
  if (reply.status !== 200) {
    const code = body?.error?.code
    const known = isEnrollmentErrorCode(code)
    throw new NodeEnrollError('REFUSED', `the CA refused enrollment: ${known ? code : `HTTP ${reply.status}`}`, {
      status: reply.status,
      ...(known ? { serverCode: code } : {})
    })
  }
  return body as IssuedResponseBody
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

/** The mesh config from the answer, with only well-typed fields kept. */
function meshConfigOf (c: Partial<IssuedResponseBody['config']> | undefined): NodeFile['config'] {
  return {
    bootstrap_peers: Array.isArray(c?.bootstrap_peers) ? c.bootstrap_peers.filter(p => typeof p === 'string') : [],
    gossip_fanout: typeof c?.gossip_fanout === 'number' && Number.isSafeInteger(c.gossip_fanout) ? c.gossip_fanout : 6,
    crl_url: typeof c?.crl_url === 'string' ? c.crl_url : ''
  }
}

function parseJson (body: Buffer): any {
  try {
    return JSON.parse(body.toString('utf8'))
  } catch {
    return undefined
  }
}

async function exists (path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch (err: any) {
    if (err.code === 'ENOENT') { return false }
    throw err
  }
}
