import { readFile, stat } from 'node:fs/promises'
import { openIdentityKeyStore } from '../../identity/identity-key-store.ts'
import { parseCertificate } from '../../pki/certificate.ts'
import { nodeIdentity } from '../../pki/node-identity.ts'
import { ensurePrivateDir } from '../../util/file-mode.ts'
import { pemToDerAll } from '../../util/pem.ts'
import { nodePaths, readNodeFile } from '../enroll/node-files.ts'
import { trustCasPath } from '../lifecycle/node-state.ts'
import { NodeRuntimeError } from './errors.ts'
import type { IdentityKeyEnv } from '../../identity/identity-key-store.ts'
import type { KeyHandle, KeyStore } from '../../identity/key-store.ts'
import type { Certificate } from '../../pki/certificate.ts'
import type { NodeFile } from '../enroll/node-files.ts'

/*
 * A node directory's credentials without the rest of the node (host key, verifier, libp2p): what
 * the CLI's commands that talk to the running node (`node peers`, `gossip list`...) sign their
 * API session with, kept apart so that those commands start without loading libp2p.
 */

/** Largest PEM file read from NODEDIR: a few certificates are a few KiB. */
const MAX_PEM_BYTES = 256 * 1024

/** What a `--dir NODEDIR` command needs to act as the node (no host key, no verifier). */
export interface NodeCredentials {
  paths: ReturnType<typeof nodePaths>
  file: NodeFile
  identity: KeyHandle
  /** Our certificate first, then chain.pem, DER: what the auth protocol presents. */
  chain: Uint8Array[]
  leaf: Certificate
  /** Trust anchors (root.pem) and the other CA certificates of chain.pem. */
  roots: Certificate[]
  intermediates: Certificate[]
  rootPem: string
  /** The backend holding the identity key (rotation creates the next key in it). */
  keyStore: KeyStore
  /** The label of the identity key in use (node.json's, or its pending one after a crash mid-rotation). */
  identityLabel: string
  /** Ends the key store's session (PKCS#11); the identity key stops signing. Idempotent. */
  closeIdentity(): Promise<void>
}

/**
 * Loads node.json, the certificates and the identity key (a signer; the key stays in its store),
 * and checks that they belong together. `node peers` uses this to sign its API session.
 */
export async function openNodeCredentials (dir: string, passphrase: string, keyEnv: Omit<IdentityKeyEnv, 'dir' | 'passphrase'> = {}): Promise<NodeCredentials> {
  const paths = nodePaths(dir)
  let file: NodeFile | undefined
  try {
    file = await readNodeFile(dir)
  } catch (err) {
    throw new NodeRuntimeError('NODE_DIR_INVALID', `${paths.nodeJson} cannot be read`, { cause: err })
  }
  if (file == null) { throw new NodeRuntimeError('NOT_ENROLLED', `${dir} holds no node.json: run \`dadm-mesh node enroll\` first`) }
  // Whatever mode NODEDIR was given since enrollment (a restore, a copy, an operator's chmod), it
  // is closed to group and others again before any key in it is used.
  await ensurePrivateDir(dir)
  if (file.identity_key == null) { throw new NodeRuntimeError('NODE_DIR_INVALID', `${paths.nodeJson} names no identity key`) }

  const opened = await openIdentityKeyStore(file, { ...keyEnv, dir, passphrase })
  let closed: Promise<void> | undefined
  const closeIdentity = async (): Promise<void> => { closed ??= opened.close(); await closed }
  try {
    const certs = await readCertFiles(dir, paths)
    let identity = opened.key
    // A rotation that crashed between cert.pem and node.json (src/daemon/lifecycle/node-state.ts):
    // cert.pem already certifies the pending key.
    const pending = file.pending_identity_key
    if (pending != null && !Buffer.from(identity.publicKeySpki).equals(certs.leaf.spki) && await opened.store.has(pending.label)) {
      const candidate = await opened.store.load(pending.label)
      if (Buffer.from(candidate.publicKeySpki).equals(certs.leaf.spki)) { identity = candidate }
    }
    return { ...checkCredentials(paths, file, identity, certs), identityLabel: identity.label, keyStore: opened.store, closeIdentity }
  } catch (err) {
    await closeIdentity()
    throw err
  }
}

interface CertFiles { leafDer: Uint8Array, chainDer: Uint8Array[], leaf: Certificate, roots: Certificate[], intermediates: Certificate[], rootPem: string }

/**
 * cert.pem (the leaf followed by its chain, so one atomic file holds a matching pair across a
 * rotation), chain.pem, root.pem (the trust anchors) and trust-cas.pem (CAs a trust bundle named).
 */
async function readCertFiles (dir: string, paths: ReturnType<typeof nodePaths>): Promise<CertFiles> {
  const certFile = await readCerts(paths.cert)
  const leafDer = certFile[0]
  const chainDer = certFile.length > 1 ? certFile.slice(1) : await readCerts(paths.chain)
  const rootPem = await readSmall(paths.root)
  const roots = parseAll(pemToDerSafe(rootPem, paths.root))
  const rootPrints = new Set(roots.map(r => r.fingerprint))
  const extra = await readOptionalCerts(trustCasPath(dir))
  const intermediates: Certificate[] = []
  for (const c of parseAll([...chainDer, ...extra])) {
    if (!rootPrints.has(c.fingerprint) && !intermediates.some(i => i.fingerprint === c.fingerprint)) { intermediates.push(c) }
  }
  return { leafDer, chainDer, leaf: parseAll([leafDer])[0], roots, intermediates, rootPem }
}

async function readOptionalCerts (path: string): Promise<Uint8Array[]> {
  try {
    await stat(path)
  } catch {
    return []
  }
  return pemToDerSafe(await readSmall(path), path)
}

function checkCredentials (paths: ReturnType<typeof nodePaths>, file: NodeFile, identity: KeyHandle, c: CertFiles): Omit<NodeCredentials, 'keyStore' | 'closeIdentity' | 'identityLabel'> {
  const { leafDer, chainDer, leaf, roots, intermediates, rootPem } = c
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
