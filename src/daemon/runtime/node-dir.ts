import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { tpmProver } from '../../../protocols/attest/index.ts'
import { parseAttestationPolicy } from '../../attestation/policy.ts'
import { Tpm } from '../../attestation/tpm.ts'
import { loadHostKey } from '../../identity/host-key.ts'
import { openIdentityKeyStore } from '../../identity/identity-key-store.ts'
import { peerVerifierFromChainVerifier } from '../../node/pki-peer-verifier.ts'
import { parseCertificate } from '../../pki/certificate.ts'
import { ChainVerifier } from '../../pki/chain-verifier.ts'
import { nodeIdentity } from '../../pki/node-identity.ts'
import { verifyChain } from '../../pki/verify-chain.ts'
import { ensurePrivateDir } from '../../util/file-mode.ts'
import { pemToDerAll } from '../../util/pem.ts'
import { nodePaths, readNodeFile } from '../enroll/node-files.ts'
import { trustCasPath } from '../lifecycle/node-state.ts'
import { NodeRuntimeError } from './errors.ts'
import type { LocalCredentials } from '../../../protocols/auth/index.ts'
import type { IdentityKeyEnv } from '../../identity/identity-key-store.ts'
import type { KeyHandle, KeyStore } from '../../identity/key-store.ts'
import type { MeshNodeInit } from '../../node/create-mesh-node.ts'
import type { Certificate } from '../../pki/certificate.ts'
import type { NodeFile } from '../enroll/node-files.ts'
import type { Ed25519PrivateKey } from '@libp2p/interface'

/** Largest PEM file read from NODEDIR: a few certificates are a few KiB. */
const MAX_PEM_BYTES = 256 * 1024

export interface OpenNodeDirOptions {
  /** PIN source etc. for a PKCS#11 or TPM identity key. */
  keyEnv?: Omit<IdentityKeyEnv, 'dir' | 'passphrase'>
  /** Accept a certificate that is valid but for its expiry (the caller renews it). @default false */
  allowExpired?: boolean
}

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

/** An enrolled node's directory, loaded: keys decrypted, chain parsed, a verifier over its roots. */
export interface NodeDir extends NodeCredentials {
  dir: string
  /** The certificate has expired (only with `allowExpired`): renew before joining. */
  expired: boolean
  nodeId: string
  peerId: string
  hostKey: Ed25519PrivateKey
  /** The caching chain verifier: peers' chains and the CRLs the node installs. */
  chainVerifier: ChainVerifier
  credentials: LocalCredentials
  /** The part of `createMeshNode`'s init that comes from the directory. */
  init: Pick<MeshNodeInit, 'privateKey' | 'credentials' | 'verifier' | 'attestation'>
}

/**
 * Loads NODEDIR as `dadm-mesh node enroll` wrote it: node.json, the certificate and chain, the
 * pinned root, the identity key from the key store (it stays there: only a signer comes out) and
 * the host key. Refuses, with a named code, a directory whose parts do not fit together: a
 * certificate that does not chain to the root now, or binds another PeerId or node_id.
 */
export async function openNodeDir (dir: string, passphrase: string, now: Date = new Date(), options: OpenNodeDirOptions = {}): Promise<NodeDir> {
  const c = await openNodeCredentials(dir, passphrase, options.keyEnv)
  try {
    return await assemble(c, dir, passphrase, now, options.allowExpired === true)
  } catch (err) {
    await c.closeIdentity()
    throw err
  }
}

async function assemble (c: NodeCredentials, dir: string, passphrase: string, now: Date, allowExpired: boolean): Promise<NodeDir> {
  const host = await loadHostKey(c.paths.hostKey, passphrase)
  const peerId = peerIdFromPrivateKey(host.key).toString()
  // An expired certificate (a node back from a long time offline) is checked as of its last
  // valid second: everything but the date must still hold for a renewal to make sense.
  const expired = allowExpired && now.getTime() > c.leaf.notAfter
  try {
    verifyChain(expired ? new Date(c.leaf.notAfter) : now, c.leaf, c.intermediates, c.roots, [], { expectedNodeId: c.file.node_id, expectedPeerId: peerId })
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
    expired,
    nodeId: c.file.node_id,
    peerId,
    hostKey: host.key,
    chainVerifier,
    credentials,
    init: { privateKey: host.key, credentials, verifier: peerVerifierFromChainVerifier(chainVerifier), attestation: attestationOf(c.file, dir) }
  }
}

/**
 * Attestation as the enrollment config asks: the CA's policy (this node then checks its peers)
 * and, when the node enrolled with a TPM, a prover that quotes with it.
 */
function attestationOf (file: NodeFile, dir: string): NonNullable<MeshNodeInit['attestation']> {
  const policy = file.config.attestation_policy != null ? parseAttestationPolicy(file.config.attestation_policy) : undefined
  const tpm = file.attestation != null ? new Tpm({ tcti: file.attestation.tcti, dir: join(dir, file.attestation.dir) }) : undefined
  return { ...(policy != null ? { policy } : {}), ...(tpm != null ? { prover: tpmProver(tpm) } : {}) }
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
