import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { prefixLogger } from '@libp2p/logger'
import { tpmProver } from '../../protocols/attest/index.ts'
import { parseAttestationPolicy } from '../../src/attestation/policy.ts'
import { Tpm } from '../../src/attestation/tpm.ts'
import { nodePaths, readNodeFile } from '../../src/daemon/enroll/node-files.ts'
import { loadHostKey } from '../../src/identity/host-key.ts'
import { openIdentityKeyStore } from '../../src/identity/identity-key-store.ts'
import { createMeshNode } from '../../src/node/index.ts'
import { PkiPeerVerifier } from '../../src/node/pki-peer-verifier.ts'
import { pemToDerAll } from '../../src/util/pem.ts'
import type { DevicePinStore } from '../../protocols/attest/index.ts'
import type { NodeFile } from '../../src/daemon/enroll/node-files.ts'
import type { IdentityKeyEnv, OpenedIdentityKey } from '../../src/identity/identity-key-store.ts'
import type { MeshNode, MeshNodeConfig } from '../../src/node/index.ts'

/**
 * Starts a mesh node from an enrolled NODEDIR the way a node runtime does: node.json, the
 * certificate files, the identity key from the backend node.json names (`openIdentityKeyStore`),
 * the host key, and attestation from the config the CA sent (with a TPM prover when the node has
 * one). Real clock: the certificates came from a real enrollment.
 */
export async function startEnrolledNode (dir: string, env: Omit<IdentityKeyEnv, 'dir'> & { passphrase: string }, options: MeshNodeConfig, extra: { tpm?: Tpm, pins?: DevicePinStore } = {}): Promise<{ node: MeshNode, file: NodeFile, identity: OpenedIdentityKey, tpm?: Tpm, stop(): Promise<void> }> {
  const file = await readNodeFile(dir)
  if (file == null) { throw new Error(`${dir} is not enrolled`) }
  const paths = nodePaths(dir)
  const identity = await openIdentityKeyStore(file, { dir, ...env })
  const chain = [...pemToDerAll(await readFile(paths.cert, 'utf8'), 'CERTIFICATE'), ...pemToDerAll(await readFile(paths.chain, 'utf8'), 'CERTIFICATE')]
  const roots = pemToDerAll(await readFile(paths.root, 'utf8'), 'CERTIFICATE')
  const host = await loadHostKey(paths.hostKey, env.passphrase)
  const tpm = extra.tpm ?? (file.attestation != null ? new Tpm({ tcti: file.attestation.tcti, dir: join(dir, file.attestation.dir) }) : undefined)
  const policy = file.config.attestation_policy != null ? parseAttestationPolicy(file.config.attestation_policy) : undefined
  const node = await createMeshNode({
    privateKey: host.key,
    credentials: { chain, signer: { algorithm: identity.key.algorithm, spki: identity.key.publicKeySpki, sign: async (d) => identity.key.sign(d) } },
    verifier: new PkiPeerVerifier({ roots: () => roots }),
    options,
    logger: prefixLogger(file.node_id),
    attestation: {
      ...(policy != null ? { policy } : {}),
      ...(tpm != null ? { prover: tpmProver(tpm) } : {}),
      ...(extra.pins != null ? { pins: extra.pins } : {})
    }
  })
  return {
    node,
    file,
    identity,
    ...(tpm != null ? { tpm } : {}),
    stop: async () => {
      await node.stop()
      await identity.close()
    }
  }
}
