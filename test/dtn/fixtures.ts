import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { encode } from 'cborg'
import { BLOCK_TYPE, BUNDLE_FLAG, encodeCanonical, encodePrimary, joinBlocks } from '../../src/dtn/bpv7.ts'
import { BundleAgent } from '../../src/dtn/bundle-agent.ts'
import { DTN_EPOCH_MS } from '../../src/dtn/constants.ts'
import { blockCrc } from '../../src/dtn/crc.ts'
import { buildSignedInput, encodeMeshBib, meshAsb, sha256 } from '../../src/dtn/mesh-bundle.ts'
import { BundleStore } from '../../src/dtn/store/bundle-store.ts'
import { openStore } from '../../src/store/mesh-store.ts'
import { NOW, createTestCa, enroll, verifierFor } from '../node/fixtures.ts'
import type { BundleAgentInit } from '../../src/dtn/bundle-agent.ts'
import type { BundleStoreOptions } from '../../src/dtn/store/bundle-store.ts'
import type { PeerIdentity } from '../../src/pki/peer-verifier.ts'
import type { MeshStore } from '../../src/store/mesh-store.ts'
import type { Enrolled, TestCa } from '../node/fixtures.ts'

/**
 * Shared material for the DTN suites: one real mesh CA with enrolled nodes (P-256 and Ed25519
 * identity keys), real LevelDB stores in temp dirs, agents on a settable clock, and `craft` to
 * build signed bundles with any field a hostile source might choose.
 */

export { NOW }

/** A clock tests move by hand. */
export class Clock {
  t = NOW
  now = (): number => this.t
}

export interface Pki {
  tca: TestCa
  a: Enrolled
  b: Enrolled
  c: Enrolled
  /** Ed25519 identity key. */
  e: Enrolled
  close(): Promise<void>
}

/** A CA and four enrolled nodes: node-a, node-b, node-c (P-256) and node-e (Ed25519). */
export async function setupPki (): Promise<Pki> {
  const tca = await createTestCa('dtn')
  const [a, b, c, e] = await Promise.all([
    enroll(tca, 'node-a'), enroll(tca, 'node-b'), enroll(tca, 'node-c'), enroll(tca, 'node-e', { algorithm: 'Ed25519' })
  ])
  return { tca, a, b, c, e, close: async () => { await tca.close() } }
}

export interface TempStore {
  dir: string
  store: MeshStore
  /** Closes the LevelDB (the directory stays, for a restart). */
  close(): Promise<void>
  /** Reopens the same directory. */
  reopen(): Promise<MeshStore>
  /** Closes and deletes the directory. */
  destroy(): Promise<void>
}

/** A real LevelDB in a fresh temp dir. */
export async function tempStore (): Promise<TempStore> {
  const dir = await mkdtemp(join(tmpdir(), 'dadm-dtn-'))
  const t: TempStore = {
    dir,
    store: await openStore(join(dir, 'db')),
    close: async () => { if (t.store.db.status === 'open') { await t.store.close() } },
    reopen: async () => {
      await t.close()
      t.store = await openStore(join(dir, 'db'))
      return t.store
    },
    destroy: async () => {
      await t.close()
      await rm(dir, { recursive: true, force: true })
    }
  }
  return t
}

export interface AgentOptions extends Partial<BundleAgentInit> {
  quotaBytes?: number
  /** How the store's quota is split. @default BUNDLE_STORE_DEFAULTS */
  shares?: BundleStoreOptions['shares']
  revoked?(id: PeerIdentity): boolean
}

/** An agent for `node` over `store`, trusting `tca`. */
export async function agentFor (node: Enrolled, store: MeshStore, tca: TestCa, clock: Clock, opts: AgentOptions = {}): Promise<BundleAgent> {
  const bundles = await BundleStore.open(store, { quotaBytes: opts.quotaBytes ?? 64 * 1024 * 1024, self: node.nodeId, ...(opts.shares == null ? {} : { shares: opts.shares }) })
  return BundleAgent.open({
    store: bundles,
    self: node.nodeId,
    credentials: { signer: node.credentials.signer, chain: node.chain },
    sources: { verifier: verifierFor(tca), isRevoked: opts.revoked ?? (() => false) },
    now: clock.now,
    random: () => 0.5,
    ...opts
  })
}

export interface CraftOptions {
  /** Who signs (key, and chain unless `chain` is given). */
  signer: Enrolled
  /** The chain to carry instead of the signer's. */
  chain?: Uint8Array[]
  /** dtn SSP of the source EID. @default `//<signer.nodeId>/` */
  sourceSsp?: string
  /** dtn SSP of the destination. @default `//node-b/` */
  destSsp?: string
  createdAt?: number
  sequence?: number
  ttlSec?: number
  hopLimit?: number
  hopCount?: number | bigint
  payload?: Uint8Array
  /** Makes it a fragment of an ADU of `total` bytes whose SHA-256 is `aduDigest`. */
  fragment?: { offset: number | bigint, total: number | bigint, aduDigest: Uint8Array }
  /** Change the payload after signing (a forging relay). */
  tamperPayload?: boolean
}

/** Builds a mesh bundle exactly as told and signs it with `signer`'s identity key. */
export async function craft (o: CraftOptions): Promise<Uint8Array> {
  const payload = o.payload ?? Buffer.from('hello from the field')
  const hopLimit = o.hopLimit ?? 32
  const aduDigest = o.fragment?.aduDigest ?? sha256(payload)
  const source = { scheme: 'dtn' as const, ssp: o.sourceSsp ?? `//${o.signer.nodeId}/` }
  const fields: unknown[] = [
    7, BUNDLE_FLAG.MUST_NOT_FRAGMENT | (o.fragment != null ? BUNDLE_FLAG.IS_FRAGMENT : 0), 2,
    [1, o.destSsp ?? '//node-b/'], [1, source.ssp], [1, 0],
    [(o.createdAt ?? NOW) - DTN_EPOCH_MS, o.sequence ?? 0], (o.ttlSec ?? 3600) * 1000
  ]
  if (o.fragment != null) { fields.push(o.fragment.offset, o.fragment.total) }
  // encodePrimary takes numbers only; hostile bigints go through cborg directly, CRC included
  const rawPrimary = typeof o.fragment?.offset === 'bigint' || typeof o.fragment?.total === 'bigint'
    ? withCrc32c(fields)
    : encodePrimary({
      version: 7,
      flags: fields[1] as number,
      crcType: 2,
      destination: { scheme: 'dtn', ssp: o.destSsp ?? '//node-b/' },
      source,
      reportTo: { scheme: 'dtn', none: true },
      creationTime: (o.createdAt ?? NOW) - DTN_EPOCH_MS,
      sequence: o.sequence ?? 0,
      lifetimeMs: (o.ttlSec ?? 3600) * 1000,
      ...(o.fragment == null ? {} : { fragment: { offset: Number(o.fragment.offset), totalAduLength: Number(o.fragment.total) } })
    })
  const signature = await o.signer.credentials.signer.sign(buildSignedInput(rawPrimary, 0, 0, hopLimit, aduDigest, payload))
  const hop = encodeCanonical({ type: BLOCK_TYPE.HOP_COUNT, number: 2, flags: 0, crcType: 0, data: encode([hopLimit, o.hopCount ?? 0]) })
  const bib = encodeMeshBib(meshAsb(source, o.chain ?? o.signer.chain, aduDigest, signature))
  const sent = o.tamperPayload === true ? Uint8Array.from(payload, (x, i) => i === 0 ? x ^ 1 : x) : payload
  const pay = encodeCanonical({ type: BLOCK_TYPE.PAYLOAD, number: 1, flags: 0, crcType: 0, data: sent })
  return joinBlocks(rawPrimary, [hop, bib, pay])
}

/** A primary block with hostile (bigint) fields: encoded with a zero CRC-32C, then the CRC filled in. */
function withCrc32c (fields: unknown[]): Uint8Array {
  const out = encode([...fields, new Uint8Array(4)])
  out.set(blockCrc(2, out), out.length - 4)
  return out
}

/** Everything the store holds, for "nothing was stored" assertions. */
export async function storeContents (agent: BundleAgent, now: number): Promise<{ outbound: number, inbox: number, bytes: number }> {
  const outbound = (await agent.store.listOutbound(10_000)).length
  const inbox = (await agent.store.listInbox(now, 10_000)).length
  return { outbound, inbox, bytes: agent.store.usage.bytes }
}

/** The error `fn` rejects with (fails the test if it resolves). */
export async function rejection (p: Promise<unknown>): Promise<any> {
  try {
    await p
  } catch (err) {
    return err
  }
  throw new Error('expected a rejection')
}
