import { join } from 'node:path'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { tpmProver } from '../../../protocols/attest/index.ts'
import { parseAttestationPolicy } from '../../attestation/policy.ts'
import { Tpm } from '../../attestation/tpm.ts'
import { loadHostKey } from '../../identity/host-key.ts'
import { peerVerifierFromChainVerifier } from '../../node/pki-peer-verifier.ts'
import { ChainVerifier } from '../../pki/chain-verifier.ts'
import { verifyChain } from '../../pki/verify-chain.ts'
import { NodeRuntimeError } from './errors.ts'
import { openNodeCredentials } from './node-credentials.ts'
import type { NodeCredentials } from './node-credentials.ts'
import type { LocalCredentials } from '../../../protocols/auth/index.ts'
import type { IdentityKeyEnv } from '../../identity/identity-key-store.ts'
import type { MeshNodeInit } from '../../node/create-mesh-node.ts'
import type { NodeFile } from '../enroll/node-files.ts'
import type { Ed25519PrivateKey } from '@libp2p/interface'

// The credentials alone (what the CLI's API clients sign with) live in ./node-credentials.ts.
export { openNodeCredentials } from './node-credentials.ts'
export type { NodeCredentials } from './node-credentials.ts'

export interface OpenNodeDirOptions {
  /** PIN source etc. for a PKCS#11 or TPM identity key. */
  keyEnv?: Omit<IdentityKeyEnv, 'dir' | 'passphrase'>
  /** Accept a certificate that is valid but for its expiry (the caller renews it). @default false */
  allowExpired?: boolean
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
