import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { encode } from 'cborg'
import { Level } from 'level'
import { BundleAgent } from '../src/dtn/bundle-agent.ts'
import { createBundle } from '../src/dtn/create-bundle.ts'
import { parseBundle } from '../src/dtn/mesh-bundle.ts'
import { MIN_SCRYPT_LOG_N } from '../src/identity/key-file.ts'
import { generatePkcs8, softwareKeyFromPkcs8 } from '../src/identity/software-key.ts'
import { PkiPeerVerifier } from '../src/node/pki-peer-verifier.ts'
import { createCsr } from '../src/pki/ca/csr-builder.ts'
import { MeshCa } from '../src/pki/ca/index.ts'
import { ChainVerifier } from '../src/pki/chain-verifier.ts'
import { pemToDerAll } from '../src/pki/pem.ts'
import { BundleStore } from '../src/store/bundle-store.ts'
import { openStore } from '../src/store/mesh-store.ts'
import type { BenchResult } from './types.ts'
import type { IdentitySigner } from '../protocols/auth/types.ts'
import type { AcceptItem, OutboundMeta } from '../src/store/bundle-store.ts'

/**
 * Issue 7 benchmark: bundles accepted per second by the bundle store on a real LevelDB, durable
 * one at a time (a sync batch each) and group-committed (1,000 in flight: one sync batch per
 * group), next to raw `level` batched puts (1,000 per batch, values the size of a stored bundle
 * record) measured in the same run. Goal: group-committed accepts >= 0.5 x raw batched puts.
 * Also, for information: the full receive path (parse, cached chain check, signature, store)
 * and a 1,000-bundle backlog drained to a reconnecting peer in process (no network).
 * Every loop is bounded in count and time; temp dirs are removed.
 */

const NOW = Date.parse('2026-03-01T12:00:00Z')
const MS = 2000
const PAYLOAD_BYTES = 256

interface Node { nodeId: string, signer: IdentitySigner, chain: Uint8Array[] }

async function enrollNode (ca: MeshCa, nodeId: string): Promise<Node> {
  const peerId = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
  const key = await softwareKeyFromPkcs8(`${nodeId}-identity`, 'P-256', await generatePkcs8('P-256'), false)
  const issued = await ca.issue({ csr: await createCsr(key, { nodeId, peerId: peerId.toString() }), now: new Date(NOW - 3600_000), nodeId })
  return {
    nodeId,
    chain: [issued.der, ...pemToDerAll(issued.chainPem, 'CERTIFICATE')],
    signer: { algorithm: 'P-256', spki: key.publicKeySpki, sign: async (d) => key.sign(d) }
  }
}

/** Runs `count` async jobs with at most `window` in flight; returns jobs per second. */
async function rate (count: number, window: number, job: (i: number) => Promise<unknown>): Promise<number> {
  const start = performance.now()
  for (let i = 0; i < count; i += window) {
    const batch: Array<Promise<unknown>> = []
    for (let j = i; j < Math.min(count, i + window); j++) { batch.push(job(j)) }
    await Promise.all(batch)
  }
  return count / ((performance.now() - start) / 1000)
}

/** How many of `max` jobs fit in about `ms`, from a short trial (keeps every figure time-bounded). */
async function sized (max: number, ms: number, window: number, job: (i: number) => Promise<unknown>): Promise<number> {
  const trial = Math.min(max, window * 2)
  const perSec = await rate(trial, window, job)
  return Math.max(window, Math.min(max - trial, Math.floor(perSec * ms / 1000)))
}

export async function benchDtn (): Promise<BenchResult[]> {
  const base = await mkdtemp(join(tmpdir(), 'dadm-bench-dtn-'))
  const stores: Array<{ close(): Promise<void> }> = []
  try {
    const ca = await MeshCa.init({ dir: join(base, 'ca'), passphrase: 'bench', now: new Date(NOW - 30 * 86_400_000), scryptLogN: MIN_SCRYPT_LOG_N })
    stores.push({ close: async () => { await ca.close() } })
    const [a, b, c] = await Promise.all([enrollNode(ca, 'node-a'), enrollNode(ca, 'node-b'), enrollNode(ca, 'node-c')])
    const chains = new ChainVerifier({ roots: [ca.rootCertificate.der] })
    const verifier = new PkiPeerVerifier({ roots: () => [ca.rootCertificate.der], validate: (now, leaf, rest) => chains.verify(now, leaf, rest) })
    const sources = { verifier, isRevoked: () => false }
    const signer = await verifier.verify(new Date(NOW), a.chain)

    // 20,000 signed bundles from node-a to node-c (256-byte payloads), made before any timing
    const MAX = 20_000
    const bundles: Uint8Array[] = []
    for (let i = 0; i < MAX; i++) {
      const made = await createBundle({ destination: 'node-c', ttlSec: 3600, payload: new Uint8Array(PAYLOAD_BYTES).fill(i & 0xff) }, { ...a, createdAt: NOW, sequence: i })
      bundles.push(made.parts[0].bytes)
    }
    const items: AcceptItem[] = bundles.map(bytes => {
      const p = parseBundle(bytes)
      const meta: OutboundMeta = {
        id: p.id,
        offset: 0,
        length: p.payload.length,
        fragmented: false,
        aduLength: p.aduLength,
        destination: p.destination,
        broadcast: false,
        createdAt: p.createdAt,
        expiresAt: p.expiresAt,
        hopCount: 0,
        hopLimit: p.hopLimit,
        copies: 8,
        attempts: 0,
        nextAttemptAt: NOW,
        sentTo: [],
        acceptedAt: NOW,
        signer
      }
      return { type: 'outbound', meta, bytes }
    })
    const recordBytes = encode({ m: (items[0] as any).meta, b: bundles[0] }).length

    // raw level: batches of 1,000 puts of record-sized values, plain and sync
    const raw = new Level<string, Uint8Array>(join(base, 'raw'), { valueEncoding: 'view' })
    await raw.open()
    stores.push({ close: async () => { await raw.close() } })
    const value = new Uint8Array(recordBytes).fill(7)
    let key = 0
    const rawBatch = async (sync: boolean): Promise<unknown> => raw.batch(
      Array.from({ length: 1000 }, () => ({ type: 'put' as const, key: (key++).toString(16).padStart(12, '0'), value })),
      sync ? ({ sync: true } as any) : {}
    )
    const rawBatches = await sized(200, MS, 1, async () => rawBatch(false))
    const rawPuts = 1000 * await rate(rawBatches, 1, async () => rawBatch(false))
    const rawSyncBatches = await sized(200, MS, 1, async () => rawBatch(true))
    const rawSyncPuts = 1000 * await rate(rawSyncBatches, 1, async () => rawBatch(true))
    const rawOne = async (): Promise<unknown> => raw.put((key++).toString(16).padStart(12, '0'), value, { sync: true } as any)
    const rawSyncOne = await rate(await sized(5000, MS, 1, rawOne), 1, rawOne)

    // the bundle store: one at a time, then 1,000 in flight (group commit)
    const meshA = await openStore(join(base, 'store-a'))
    stores.push(meshA)
    const store = await BundleStore.open(meshA, { quotaBytes: 1 << 30 })
    let next = 0
    const acceptOne = async (): Promise<unknown> => store.accept([items[next++ % MAX]])
    const syncCount = await sized(3000, MS, 1, acceptOne)
    const durable = await rate(syncCount, 1, acceptOne)
    const meshB = await openStore(join(base, 'store-b'))
    stores.push(meshB)
    const storeB = await BundleStore.open(meshB, { quotaBytes: 1 << 30 })
    const batchedCount = Math.min(MAX - 2000, 18_000)
    const batched = await rate(batchedCount, 1000, async (i) => storeB.accept([items[i]]))

    // the full receive path at node-b (a relay for node-c): parse, cached chain, signature, store
    const meshC = await openStore(join(base, 'store-c'))
    stores.push(meshC)
    const relay = await BundleAgent.open({
      store: await BundleStore.open(meshC, { quotaBytes: 1 << 30 }), self: 'node-b', credentials: b, sources, now: () => NOW
    })
    const receiveCount = Math.min(MAX, 4000)
    const received = await rate(receiveCount, 256, async (i) => relay.receive(bundles[i], { from: 'node-a', copies: 4 }))

    // 1,000-bundle backlog at node-b drained to node-c when it reconnects (in process, no network)
    const meshD = await openStore(join(base, 'store-d'))
    stores.push(meshD)
    const dest = await BundleAgent.open({
      store: await BundleStore.open(meshD, { quotaBytes: 1 << 30 }), self: 'node-c', credentials: c, sources, now: () => NOW
    })
    const drainStart = performance.now()
    let drained = 0
    for (let round = 0; round < 100 && drained < 1000; round++) {
      const transfers = await relay.planTransfers(['node-c'], { peer: 'node-c', limit: 256 })
      if (transfers.length === 0) { break }
      await Promise.all(transfers.map(async t => {
        const r = await dest.receive(t.bytes, { from: 'node-b' })
        await relay.completeTransfer(t, { status: r.status })
      }))
      drained += transfers.length
    }
    const drainRate = drained / ((performance.now() - drainStart) / 1000)

    return [
      { name: 'level: raw puts, batches of 1000 (record-sized values)', value: rawPuts, unit: 'puts/s' },
      { name: 'level: raw puts, batches of 1000, sync', value: rawSyncPuts, unit: 'puts/s' },
      { name: 'level: raw puts, one at a time, sync', value: rawSyncOne, unit: 'puts/s' },
      { name: 'bundle store: accepts, durable, one at a time (sync each)', value: durable, unit: 'bundles/s', baseline: 'raw sync puts one at a time', ratio: durable / rawSyncOne, goal: 'for information' },
      {
        name: 'bundle store: accepts, durable, group-committed (1000 in flight)',
        value: batched,
        unit: 'bundles/s',
        baseline: 'raw batched puts',
        ratio: batched / rawPuts,
        goal: '>= 0.5',
        met: batched / rawPuts >= 0.5
      },
      { name: 'receive path: parse + cached chain + signature + durable store', value: received, unit: 'bundles/s' },
      { name: `backlog drain to a reconnecting peer (${drained} bundles, in process)`, value: drainRate, unit: 'bundles/s' },
      { name: 'stored record size (256-byte payload, 2-cert P-256 chain)', value: recordBytes, unit: 'bytes' }
    ]
  } finally {
    for (const s of stores.reverse()) { await s.close().catch(() => {}) }
    await rm(base, { recursive: true, force: true })
  }
}
