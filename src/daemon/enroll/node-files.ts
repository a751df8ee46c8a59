import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { HOST_KEY_LABEL, hostKeyPath } from '../../identity/host-key-path.ts'
import type { MeshConfigBody } from '../../enrollment/schemas.ts'
import type { IdentityKeyRef } from '../../identity/identity-key-store.ts'

/**
 * The layout of an enrolled node's directory, written by `dadm-mesh node enroll` and read by the
 * mesh node:
 *
 * - `node.json`: NodeFile below (identity, CA URL, mesh config, key labels)
 * - `cert.pem`: the node certificate
 * - `chain.pem`: the issuing chain, issuer first, root last
 * - `root.pem`: the mesh root the operator pinned at enrollment
 * - `keys/identity.key`: the identity key, with the software key store (encrypted key file)
 * - `keys/host.key`: the libp2p Ed25519 host key (same format, exportable)
 * - `tpm/`: EK and AK blobs when the node attests with a TPM (tpm2-tools)
 * - `tpm2-pkcs11/`: the tpm2-pkcs11 database when the identity key lives in the TPM
 */
export function nodePaths (dir: string): { nodeJson: string, cert: string, chain: string, root: string, keys: string, identityKey: string, hostKey: string } {
  const keys = join(dir, 'keys')
  return {
    nodeJson: join(dir, 'node.json'),
    cert: join(dir, 'cert.pem'),
    chain: join(dir, 'chain.pem'),
    root: join(dir, 'root.pem'),
    keys,
    identityKey: join(keys, `${IDENTITY_KEY_LABEL}.key`),
    hostKey: hostKeyPath(dir)
  }
}

export const IDENTITY_KEY_LABEL = 'identity'
export { HOST_KEY_LABEL }

/** `node.json`. */
export interface NodeFile {
  version: 1
  node_id: string
  peer_id: string
  ca_url: string
  /** Serial of the certificate in cert.pem, hex. */
  serial: string
  not_before: string
  not_after: string
  enrolled_at: string
  /** Where the identity key lives; `openIdentityKeyStore` opens it. */
  identity_key: IdentityKeyRef
  host_key: { label: string, algorithm: 'Ed25519' }
  /** The TPM the node attests with (tpm2-tools TCTI; `dir` relative to NODEDIR), when it has one. */
  attestation?: { tcti: string, dir: string }
  /** From the CA at enrollment: bootstrap peers, gossip fan-out, CRL URL. */
  config: MeshConfigBody
  /**
   * Certificate lifecycle, written by the running node so that a restart resumes it. `pending_identity_key`: the key
   * a rotation in progress created (cert.pem may already certify it after a crash); the loader
   * falls back to it. `retired_identity_keys`: keys rotated out, deleted once their certificate
   * expires. `trust_sequence`: the sequence of the last CA trust bundle applied (root.pem holds
   * its roots). `rotated_at`: time of the last rotation or renewal.
   */
  pending_identity_key?: IdentityKeyRef
  retired_identity_keys?: Array<{ label: string, serial: string, not_after: string }>
  trust_sequence?: number
  rotated_at?: string
  /** What the node does once a CRL revokes it: 'exit' (exit code 3) or 'isolate'. `--on-revoked` overrides it. @default 'exit' */
  on_revoked?: 'exit' | 'isolate'
  /**
   * Listen multiaddrs. The first `node start` without `--listen` records the ports it bound here,
   * so restarts keep the node's addresses (src/daemon/runtime/listen-ports.ts). `--listen` overrides.
   */
  listen?: string[]
  /** Multiaddrs advertised besides the listen addresses, counted as verified (a public IP, a port forward). `--announce` overrides. */
  announce?: string[]
  /** DHT server/client: auto (server only when reachable), server, client. `--dht-mode` overrides. @default auto */
  dht_mode?: 'auto' | 'server' | 'client'
  /** Circuit relay v2 among members; the flags override it (src/daemon/runtime/relay-config.ts reads and checks it). */
  relay?: NodeRelayConfig
}

/** node.json's `relay` block, snake_case; src/node/relay-options.ts has the defaults and the reasons. */
export interface NodeRelayConfig {
  enabled?: boolean
  server?: 'auto' | 'on' | 'off'
  reservations?: number
  max_reservations?: number
  reservation_ttl_ms?: number
  duration_limit_ms?: number
  data_limit_bytes?: number
  max_circuits_per_peer?: number
  max_circuits_to_peer?: number
  hop_timeout_ms?: number
  reservation_timeout_ms?: number
}

/** Largest node.json read. */
const MAX_NODE_JSON = 256 * 1024

/** Reads node.json, or undefined when the node is not enrolled. */
export async function readNodeFile (dir: string): Promise<NodeFile | undefined> {
  let bytes: Buffer
  try {
    bytes = await readFile(nodePaths(dir).nodeJson)
  } catch (err: any) {
    if (err.code === 'ENOENT') { return undefined }
    throw err
  }
  if (bytes.length > MAX_NODE_JSON) { throw new Error('node.json is too large') }
  return JSON.parse(bytes.toString('utf8')) as NodeFile
}

// The one atomic-replace writer lives in util; re-exported here for the node-directory callers.
export { writeFileAtomic } from '../../util/atomic-file.ts'
