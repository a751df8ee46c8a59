import { join } from 'node:path'
import { createLock } from '../../util/lock.ts'
import { derToPem } from '../../util/pem.ts'
import { nodePaths, writeFileAtomic } from '../enroll/node-files.ts'
import type { IdentityKeyRef } from '../../identity/identity-key-store.ts'
import type { Certificate } from '../../pki/certificate.ts'
import type { NodeFile } from '../enroll/node-files.ts'

/**
 * How the lifecycle writes NODEDIR. Every file is replaced atomically (temporary file, fsync,
 * rename, fsync of the directory: `writeFileAtomic`), and the order makes every crash point
 * recoverable:
 *
 * 1. the new key is created in the key store, then node.json names it `pending_identity_key`;
 * 2. after the CA answers: cert.pem (leaf AND its chain, so it stands alone), chain.pem;
 * 3. node.json last: `identity_key` = the new key, the old one under `retired_identity_keys`.
 *
 * A crash between 2 and 3 leaves cert.pem certifying the pending key: the loader tries that key
 * when the recorded one does not fit (src/daemon/runtime/node-dir.ts), and the lifecycle finishes
 * step 3 at start. A crash before 2 leaves an unused key, which the next rotation reuses.
 */

/** Extra CA certificates a trust bundle named (issuing CAs of newly trusted roots). */
export function trustCasPath (dir: string): string {
  return join(dir, 'trust-cas.pem')
}

const pem = (certs: Uint8Array[]): string => certs.map(c => derToPem(c, 'CERTIFICATE')).join('')

async function writeNodeJson (dir: string, file: NodeFile): Promise<void> {
  await writeFileAtomic(nodePaths(dir).nodeJson, JSON.stringify(file, null, 2) + '\n', 0o600)
}

/** Step 1: the key a rotation created, recorded before the request goes out. */
export async function recordPendingKey (dir: string, file: NodeFile, ref: IdentityKeyRef): Promise<NodeFile> {
  const next: NodeFile = { ...file, pending_identity_key: ref }
  await writeNodeJson(dir, next)
  return next
}

/** Steps 2 and 3: the new certificate and chain, then node.json naming the new key. */
export async function persistRotation (dir: string, file: NodeFile, rotation: { ref: IdentityKeyRef, chain: Uint8Array[], leaf: Certificate, retired?: { label: string, serialHex: string, notAfter: number }, at: Date }): Promise<NodeFile> {
  const paths = nodePaths(dir)
  await writeFileAtomic(paths.cert, pem(rotation.chain), 0o644)
  await writeFileAtomic(paths.chain, pem(rotation.chain.slice(1)), 0o644)
  const retired = [...(file.retired_identity_keys ?? [])]
  if (rotation.retired != null && rotation.retired.label !== rotation.ref.label && !retired.some(r => r.label === rotation.retired?.label)) {
    retired.push({ label: rotation.retired.label, serial: rotation.retired.serialHex, not_after: new Date(rotation.retired.notAfter).toISOString() })
  }
  const { pending_identity_key: _pending, ...rest } = file
  const next: NodeFile = {
    ...rest,
    identity_key: rotation.ref,
    serial: rotation.leaf.serialHex,
    not_before: new Date(rotation.leaf.notBefore).toISOString(),
    not_after: new Date(rotation.leaf.notAfter).toISOString(),
    retired_identity_keys: retired,
    rotated_at: rotation.at.toISOString()
  }
  await writeNodeJson(dir, next)
  return next
}

/** Rewrites the list of retired keys (after deleting one whose certificate expired). */
export async function persistRetired (dir: string, file: NodeFile, retired: NonNullable<NodeFile['retired_identity_keys']>): Promise<NodeFile> {
  const next: NodeFile = { ...file, retired_identity_keys: retired }
  await writeNodeJson(dir, next)
  return next
}

/** A trust bundle applied: root.pem holds its roots, trust-cas.pem its CAs, node.json its sequence. */
export async function persistTrust (dir: string, file: NodeFile, trust: { roots: Uint8Array[], cas: Uint8Array[], sequence: number }): Promise<NodeFile> {
  await writeFileAtomic(trustCasPath(dir), pem(trust.cas), 0o644)
  await writeFileAtomic(nodePaths(dir).root, pem(trust.roots), 0o644)
  const next: NodeFile = { ...file, trust_sequence: trust.sequence }
  await writeNodeJson(dir, next)
  return next
}

/**
 * The one owner of node.json while the node runs: rotation and trust changes both rewrite it, so
 * updates run one at a time on the latest copy (no writer overwrites another's fields).
 */
export class NodeFileStore {
  readonly dir: string
  #file: NodeFile
  readonly #lock = createLock()

  constructor (dir: string, file: NodeFile) {
    this.dir = dir
    this.#file = file
  }

  get file (): NodeFile {
    return this.#file
  }

  /** Runs `fn` on the latest node.json (it writes NODEDIR itself) and keeps what it returns. */
  async update (fn: (dir: string, file: NodeFile) => Promise<NodeFile>): Promise<NodeFile> {
    return this.#lock.run(async () => {
      this.#file = await fn(this.dir, this.#file)
      return this.#file
    })
  }
}
