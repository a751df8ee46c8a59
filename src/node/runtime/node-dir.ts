import { readFile } from 'node:fs/promises'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { loadHostKey } from '../../enrollment/node/host-key.ts'
import { nodePaths, readNodeFile } from '../../enrollment/node/node-files.ts'
import { SoftwareKeyStore } from '../../identity/software-key-store.ts'
import { parseCertificate } from '../../pki/certificate.ts'
import { ChainVerifier } from '../../pki/chain-verifier.ts'
import { nodeIdentity } from '../../pki/node-identity.ts'
import { pemToDerAll } from '../../pki/pem.ts'
import { verifyChain } from '../../pki/verify-chain.ts'
import { peerVerifierFromChainVerifier } from '../pki-peer-verifier.ts'
import { NodeRuntimeError } from './errors.ts'
import type { LocalCredentials } from '../../../protocols/auth/index.ts'
import type { NodeFile } from '../../enrollment/node/node-files.ts'
import type { KeyHandle } from '../../identity/key-store.ts'
import type { Certificate } from '../../pki/certificate.ts'
import type { MeshNodeInit } from '../create-mesh-node.ts'
import type { Ed25519PrivateKey } from '@libp2p/interface'

/** Largest PEM file read from NODEDIR: a few certificates are a few KiB. */
const MAX_PEM_BYTES = 256 * 1024

/** An enrolled node's directory, loaded: keys decrypted, chain parsed, a verifier over its roots. */
export interface NodeDir {
  dir: string
  paths: ReturnType<typeof nodePaths>
  file: NodeFile
  nodeId: string
  peerId: string
  hostKey: Ed25519PrivateKey
  identity: KeyHandle
  /** Our certificate first, then chain.pem, DER: what the auth protocol presents. */
  chain: Uint8Array[]
  leaf: Certificate
  /** Trust anchors (root.pem) and the other CA certificates of chain.pem. */
  roots: Certificate[]
  intermediates: Certificate[]
  rootPem: string
  /** The caching chain verifier: peers' chains and the CRLs the node installs. */
  chainVerifier: ChainVerifier
  credentials: LocalCredentials
  /** The part of `createMeshNode`'s init that comes from the directory. */
  init: Pick<MeshNodeInit, 'privateKey' | 'credentials' | 'verifier'>
}

/**
 * Loads NODEDIR as `dadm-mesh node enroll` wrote it: node.json, the certificate and chain, the
 * pinned root, the identity key from the key store (it stays there: only a signer comes out) and
 * the host key. Refuses, with a named code, a directory whose parts do not fit together: a
 * certificate that does not chain to the root now, or binds another PeerId or node_id.
 */
export async function openNodeDir (dir: string, passphrase: string, now: Date = new Date()): Promise<NodeDir> {
  const c = await openNodeCredentials(dir, passphrase)
  const host = await loadHostKey(c.paths.hostKey, passphrase)
  const peerId = peerIdFromPrivateKey(host.key).toString()
  try {
    verifyChain(now, c.leaf, c.intermediates, c.roots, [], { expectedNodeId: c.file.node_id, expectedPeerId: peerId })
  } catch (err) {
    throw new NodeRuntimeError('CERT_INVALID', `${c.paths.cert} is not a valid certificate for this node now: ${(err as Error).message}`, { cause: err })
  }
  const chainVerifier = new ChainVerifier({ roots: c.roots, intermediates: c.intermediates })
  const identity = c.identity
  const credentials: LocalCredentials = {
    chain: c.chain,
    signer: { algorithm: identity.algorithm, spki: identity.publicKeySpki, sign: async (data) => identity.sign(data) }
  }
  return {
    ...c,
    dir,
    nodeId: c.file.node_id,
    peerId,
    hostKey: host.key,
    chainVerifier,
    credentials,
    init: { privateKey: host.key, credentials, verifier: peerVerifierFromChainVerifier(chainVerifier) }
  }
}

/** What a `--dir NODEDIR` command needs to act as the node (no host key, no verifier). */
export type NodeCredentials = Pick<NodeDir, 'paths' | 'file' | 'identity' | 'chain' | 'leaf' | 'roots' | 'intermediates' | 'rootPem'>

/**
 * Loads node.json, the certificates and the identity key (a signer; the key stays in its store),
 * and checks that they belong together. `node peers` uses this to sign its API session.
 */
export async function openNodeCredentials (dir: string, passphrase: string): Promise<NodeCredentials> {
  const paths = nodePaths(dir)
  let file: NodeFile | undefined
  try {
    file = await readNodeFile(dir)
  } catch (err) {
    throw new NodeRuntimeError('NODE_DIR_INVALID', `${paths.nodeJson} cannot be read`, { cause: err })
  }
  if (file == null) { throw new NodeRuntimeError('NOT_ENROLLED', `${dir} holds no node.json: run \`dadm-mesh node enroll\` first`) }
  if (file.identity_key?.store !== 'software') { throw new NodeRuntimeError('NODE_DIR_INVALID', `identity key store ${String(file.identity_key?.store)} is not supported`) }

  const leafDer = (await readCerts(paths.cert))[0]
  const chainDer = await readCerts(paths.chain)
  const rootPem = await readSmall(paths.root)
  const roots = parseAll(pemToDerSafe(rootPem, paths.root))
  const rootPrints = new Set(roots.map(r => r.fingerprint))
  const intermediates = parseAll(chainDer).filter(c => !rootPrints.has(c.fingerprint))
  const leaf = parseAll([leafDer])[0]
  const identity = await new SoftwareKeyStore({ dir: paths.keys, passphrase }).load(file.identity_key.label)
  let nodeId: string | undefined
  try {
    nodeId = nodeIdentity(leaf).nodeId
  } catch {
    // No usable node identity: nodeId stays undefined and the check below refuses.
  }
  if (nodeId !== file.node_id) { throw new NodeRuntimeError('CERT_INVALID', `${paths.cert} does not name node_id ${file.node_id}`) }
  if (!Buffer.from(identity.publicKeySpki).equals(leaf.spki)) {
    throw new NodeRuntimeError('CERT_INVALID', 'the identity key is not the key of cert.pem')
  }
  return { paths, file, identity, chain: [leafDer, ...chainDer], leaf, roots, intermediates, rootPem }
}

async function readSmall (path: string): Promise<string> {
  let bytes: Buffer
  try {
    bytes = await readFile(path)
  } catch (err) {
    throw new NodeRuntimeError('NODE_DIR_INVALID', `${path} cannot be read`, { cause: err })
  }
  if (bytes.length > MAX_PEM_BYTES) { throw new NodeRuntimeError('NODE_DIR_INVALID', `${path} is too large`) }
  return bytes.toString('utf8')
}

async function readCerts (path: string): Promise<Uint8Array[]> {
  const certs = pemToDerSafe(await readSmall(path), path)
  if (certs.length === 0) { throw new NodeRuntimeError('NODE_DIR_INVALID', `${path} holds no certificate`) }
  return certs
}

function pemToDerSafe (pem: string, path: string): Uint8Array[] {
  try {
    return pemToDerAll(pem, 'CERTIFICATE')
  } catch (err) {
    throw new NodeRuntimeError('NODE_DIR_INVALID', `${path} is not PEM certificates`, { cause: err })
  }
}

function parseAll (ders: Uint8Array[]): Certificate[] {
  try {
    return ders.map(parseCertificate)
  } catch (err) {
    throw new NodeRuntimeError('NODE_DIR_INVALID', 'a certificate in NODEDIR does not parse', { cause: err })
  }
}
