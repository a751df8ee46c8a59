import { generateKeyPair } from '@libp2p/crypto/keys'
import { prefixLogger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { MemoryLevel } from 'memory-level'
import { pino } from 'pino'
import { createCsr } from '../../../src/ca/csr-builder.ts'
import { startNodeBundles } from '../../../src/daemon/runtime/dtn.ts'
import { generatePkcs8, softwareKeyFromPkcs8 } from '../../../src/identity/software-key.ts'
import { createMeshNode } from '../../../src/node/index.ts'
import { parseCertificate } from '../../../src/pki/certificate.ts'
import { wrapStore } from '../../../src/store/mesh-store.ts'
import { pemToDerAll } from '../../../src/util/pem.ts'
import { NOW, eventually, now, signerOf } from '../../node/fixtures.ts'
import { chainVerifierFor } from '../../node/gossip-fixtures.ts'
import type { NodeBundles } from '../../../src/daemon/runtime/dtn.ts'
import type { MeshGossip, MeshNode, MeshNodeInit } from '../../../src/node/index.ts'
import type { AttestedDevice } from '../../../src/pki/attested-extension.ts'
import type { RootDb } from '../../../src/store/mesh-store.ts'
import type { Enrolled, TestCa } from '../../node/fixtures.ts'
import type { GossipNode } from '../../node/gossip-fixtures.ts'

/** A gossiping mesh node with DTN, for the attestation gating suites. */
export interface Member extends GossipNode {
  bundles: NodeBundles
  /** The bundle service's warn lines (refusals), parsed. */
  warnings: Array<{ code?: string, peer_id?: string, msg?: string }>
}

/**
 * The bundle layer's clock: the fixed test time, moving forward. Its retry schedule waits on the
 * clock (a frozen one never retries a failed transfer); certificates stay valid for hours.
 */
const T0 = Date.now()
export const ticking = (): number => NOW + (Date.now() - T0)

/** Enrolls `nodeId` like `enroll`, with the attested-device extension when `attested` is given. */
export async function enrollWith (tca: TestCa, nodeId: string, attested?: AttestedDevice): Promise<Enrolled> {
  const hostKey = await generateKeyPair('Ed25519')
  const peerId = peerIdFromPrivateKey(hostKey)
  const identity = await softwareKeyFromPkcs8(`${nodeId}-identity`, 'P-256', await generatePkcs8('P-256'), false)
  const csr = await createCsr(identity, { nodeId, peerId: peerId.toString() })
  const issued = await tca.ca.issue({ csr, now: new Date(NOW - 3600_000), nodeId, ...(attested != null ? { attested } : {}) })
  const chain = [issued.der, ...pemToDerAll(issued.chainPem, 'CERTIFICATE')]
  return { nodeId, hostKey, peerId, identity, chain, serialHex: issued.serialHex, credentials: { chain, signer: signerOf(identity) } }
}

/** Starts a gossiping node with DTN for `enrolled` on 127.0.0.`host` (QUIC, the fixed clock). */
export async function startMember (tca: TestCa, enrolled: Enrolled, host: number, attestation: MeshNodeInit['attestation'] = {}, attest: Record<string, number> = {}): Promise<Member> {
  const name = enrolled.nodeId
  const verifier = chainVerifierFor(tca)
  const store = wrapStore(new MemoryLevel<string, any>({ keyEncoding: 'utf8', valueEncoding: 'json' }) as unknown as RootDb)
  const node: MeshNode = await createMeshNode({
    privateKey: enrolled.hostKey,
    credentials: enrolled.credentials,
    chainVerifier: verifier,
    store,
    now,
    logger: prefixLogger(name),
    attestation,
    options: {
      listen: [`/ip4/127.0.0.${host}/udp/0/quic-v1`],
      transports: { quic: true, tcp: false },
      mdns: { enabled: false },
      dht: { enabled: false },
      discovery: { dialDiscovered: false },
      attest: { intervalMs: 600_000, ...attest },
      gossip: { enabled: true, sweepIntervalMs: 0, ipColocationFactorWeight: 0 }
    }
  })
  const warnings: Member['warnings'] = []
  const log = pino({ level: 'warn' }, { write: (line: string) => { warnings.push(JSON.parse(line)) } })
  let bundles: NodeBundles
  try {
    bundles = await startNodeBundles({
      node,
      store,
      dir: {
        nodeId: name,
        chain: enrolled.chain,
        chainVerifier: verifier,
        roots: [tca.root].map(parseCertificate),
        intermediates: [parseCertificate(tca.ca.issuingCertificate.der)],
        credentials: enrolled.credentials
      },
      now: ticking,
      log,
      options: { tickMs: 100 }
    })
  } catch (err) {
    await node.stop()
    throw err
  }
  const gossip = node.gossip as MeshGossip
  return { name, node, enrolled, verifier, gossip, pubsub: gossip.pubsub as Member['pubsub'], peerId: node.peerId.toString(), store, bundles, warnings }
}

/** Stops a member (bundles, then the node). */
export async function stopMember (m: Member): Promise<void> {
  await m.bundles.stop()
  await m.node.stop()
}

/** Dials b from a and waits until both sides hold the authenticated link. */
export async function linkMembers (a: Member, b: Member): Promise<void> {
  await a.node.dial(b.node.getMultiaddrs()[0], { signal: AbortSignal.timeout(10_000) })
  await eventually(() => a.node.isAuthenticated(b.peerId) && b.node.isAuthenticated(a.peerId), 10_000)
}
