import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { prefixLogger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createCsr } from '../../src/ca/csr-builder.ts'
import { MeshCa } from '../../src/ca/index.ts'
import { MIN_SCRYPT_LOG_N } from '../../src/identity/key-file.ts'
import { generatePkcs8, softwareKeyFromPkcs8 } from '../../src/identity/software-key.ts'
import { createMeshNode } from '../../src/node/index.ts'
import { PkiPeerVerifier } from '../../src/node/pki-peer-verifier.ts'
import { pemToDerAll } from '../../src/util/pem.ts'
import { epochFor } from '../protocols/anomaly-gossip/epochs.ts'
import type { LocalCredentials } from '../../protocols/auth/index.ts'
import type { KeyAlgorithm, KeyHandle } from '../../src/identity/key-store.ts'
import type { MeshNode, MeshNodeConfig, MeshNodeInit } from '../../src/node/index.ts'
import type { Ed25519PrivateKey, PeerId } from '@libp2p/interface'

/**
 * Shared test material for the node and auth suites: real mesh CAs (src/ca) in temp dirs,
 * node enrollment through real CSRs, and mesh nodes on loopback. One fixed clock for all of it.
 */

/** The fixed clock every node and CA in these suites runs on. */
export const NOW = Date.parse('2026-03-01T12:00:00Z')
export const now = (): number => NOW
const PASS = 'test passphrase'
const DAY = 24 * 3600 * 1000

export interface TestCa {
  ca: MeshCa
  root: Uint8Array
  /** CRLs the verifiers of this CA's nodes currently hold. */
  crls: Uint8Array[]
  close(): Promise<void>
}

/** A fresh mesh CA (root + issuing intermediate) valid from 30 days before NOW. */
export async function createTestCa (name: string): Promise<TestCa> {
  const base = await mkdtemp(join(tmpdir(), `dadm-node-${name}-`))
  const ca = await MeshCa.init({ dir: join(base, 'ca'), passphrase: PASS, now: new Date(NOW - 30 * DAY), scryptLogN: MIN_SCRYPT_LOG_N })
  return {
    ca,
    root: ca.rootCertificate.der,
    crls: [],
    close: async () => {
      await ca.close()
      await rm(base, { recursive: true, force: true })
    }
  }
}

/** What an enrolled node holds: host key, identity key, certificate chain. */
export interface Enrolled {
  nodeId: string
  hostKey: Ed25519PrivateKey
  peerId: PeerId
  identity: KeyHandle
  /** Leaf first, then the issuing chain. */
  chain: Uint8Array[]
  serialHex: string
  credentials: LocalCredentials
}

export interface EnrollOptions {
  /** Enroll for this host key instead of a new one. */
  hostKey?: Ed25519PrivateKey
  /** CA clock at issuance. @default NOW - 1 h */
  issuedAt?: number
  /** @default 24 h */
  validitySeconds?: number
  algorithm?: KeyAlgorithm
  /** Roles the CA puts in the certificate. @default none */
  roles?: string[]
}

/** Enrolls `nodeId` at `tca`: new identity key, CSR naming node_id and PeerId, certificate. */
export async function enroll (tca: TestCa, nodeId: string, opts: EnrollOptions = {}): Promise<Enrolled> {
  const hostKey = opts.hostKey ?? await generateKeyPair('Ed25519')
  const peerId = peerIdFromPrivateKey(hostKey)
  const algorithm = opts.algorithm ?? 'P-256'
  const identity = await softwareKeyFromPkcs8(`${nodeId}-identity`, algorithm, await generatePkcs8(algorithm), false)
  const csr = await createCsr(identity, { nodeId, peerId: peerId.toString() })
  const issued = await tca.ca.issue({ csr, now: new Date(opts.issuedAt ?? NOW - 3600_000), nodeId, validitySeconds: opts.validitySeconds, ...(opts.roles != null ? { roles: opts.roles } : {}) })
  const chain = [issued.der, ...pemToDerAll(issued.chainPem, 'CERTIFICATE')]
  const enrolled = {
    nodeId,
    hostKey,
    peerId,
    identity,
    chain,
    serialHex: issued.serialHex,
    credentials: { chain, signer: signerOf(identity) }
  }
  // Its gossip key epoch, so test envelopes from it can be signed synchronously (envelopeFrom).
  await epochFor(enrolled)
  return enrolled
}

/** The auth signer view of an identity key handle. */
export function signerOf (identity: KeyHandle): LocalCredentials['signer'] {
  return { algorithm: identity.algorithm, spki: identity.publicKeySpki, sign: async (data) => identity.sign(data) }
}

/** The PKI verifier a node of `tca` runs: its root as the anchor, its current CRLs. */
export function verifierFor (tca: TestCa): PkiPeerVerifier {
  return new PkiPeerVerifier({ roots: () => [tca.root], crls: () => tca.crls })
}

/** Revokes `serialHex` at the CA and hands the new CRL to the CA's verifiers. */
export async function revoke (tca: TestCa, serialHex: string): Promise<void> {
  await tca.ca.revoke({ serialHex, now: new Date(NOW - 60_000) })
  const crl = await tca.ca.buildCrl(new Date(NOW - 30_000))
  tca.crls = [crl.der]
}

export const QUIC_LOOPBACK = '/ip4/127.0.0.1/udp/0/quic-v1'
export const TCP_LOOPBACK = '/ip4/127.0.0.1/tcp/0'

/**
 * Options of a loopback test node: no mDNS (never multicast on the real interface), and no gossip
 * unless `extra` turns it on (these suites test other layers with a PkiPeerVerifier; the gossip
 * suites pass the node's ChainVerifier and a store, see test/node/gossip-fixtures.ts).
 */
export function loopbackOptions (transport: 'quic' | 'tcp' = 'quic', extra: MeshNodeConfig = {}): MeshNodeConfig {
  return {
    listen: [transport === 'quic' ? QUIC_LOOPBACK : TCP_LOOPBACK],
    transports: { quic: transport === 'quic', tcp: transport === 'tcp' },
    mdns: { enabled: false },
    discovery: { dialDiscovered: false },
    gossip: { enabled: false },
    ...extra
  }
}

/** Starts a mesh node for `enrolled`, trusting `tca`. */
export async function startNode (name: string, enrolled: Enrolled, tca: TestCa, options: MeshNodeConfig = loopbackOptions(), extra: Partial<MeshNodeInit> = {}): Promise<MeshNode> {
  return createMeshNode({
    ...extra,
    privateKey: enrolled.hostKey,
    credentials: enrolled.credentials,
    verifier: verifierFor(tca),
    options,
    now,
    logger: prefixLogger(name)
  })
}

/** Resolves with the first event of `type` on `target` that satisfies `match`, or rejects after `ms`. */
export async function waitForEvent<T> (target: EventTarget, type: string, match: (detail: T) => boolean = () => true, ms = 10_000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => { target.removeEventListener(type, listener); reject(new Error(`no ${type} within ${ms} ms`)) }, ms)
    const listener = (evt: Event): void => {
      const detail = (evt as CustomEvent<T>).detail
      if (!match(detail)) { return }
      clearTimeout(timer)
      target.removeEventListener(type, listener)
      resolve(detail)
    }
    target.addEventListener(type, listener)
  })
}

/** Polls `check` every 20 ms until it holds or `ms` pass (for state with no event). */
export async function eventually (check: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) { throw new Error('condition not met in time') }
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}
