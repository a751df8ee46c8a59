import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { IDENTITY_KEY_LABEL, nodePaths } from '../../src/daemon/enroll/node-files.ts'
import { MIN_SCRYPT_LOG_N } from '../../src/identity/key-file.ts'
import { SoftwareKeyStore } from '../../src/identity/software-key-store.ts'
import { softwareKeyFromPkcs8 } from '../../src/identity/software-key.ts'
import { CredentialSet } from '../../src/daemon/lifecycle/credential-set.ts'
import { NodeFileStore } from '../../src/daemon/lifecycle/node-state.ts'
import { RotationManager } from '../../src/daemon/lifecycle/rotation-manager.ts'
import { parseCertificate } from '../../src/pki/certificate.ts'
import { derToPem } from '../../src/util/pem.ts'
import { writeFileAtomic } from '../../src/util/atomic-file.ts'
import { Rng } from '../core/rng.ts'
import { RunClock } from '../core/run-clock.ts'
import { wallNow } from '../metrics/events.ts'
import type { NodeFile } from '../../src/daemon/enroll/node-files.ts'
import type { KeyStore } from '../../src/identity/key-store.ts'
import type { RotatedEvent } from '../../src/daemon/lifecycle/rotation-manager.ts'
import type { RotationPolicy } from '../../src/daemon/lifecycle/schedule.ts'
import type { MeshNode } from '../../src/node/mesh-node.ts'
import type { Certificate } from '../../src/pki/certificate.ts'
import type { Directory } from '../link/directory.ts'
import type { SimEvent } from '../metrics/events.ts'
import type { NodeMaterial } from '../pki/sim-pki.ts'
import type { ShardInit } from '../shard/types.ts'

/** What every rotating node of a shard shares. */
export interface RotationContext {
  clock: RunClock
  /** The run's enrollment service (pki/sim-ca-service.ts). */
  caUrl: string
  policy: Partial<RotationPolicy>
  trust: { roots(): Certificate[], intermediates(): Certificate[] }
  /** Where the nodes' NODEDIRs go (under the shard's store dir). */
  dir: string
  seed: string
  directory: Directory
  log(ev: SimEvent): void
  /** The traffic phase starts at wall time `t0`: the clock runs fast from then on. */
  begin(t0: number): void
  /** Runs a key generation when one of the shard's slots is free (see KEY_GEN_SLOTS). */
  keyGenSlot<T>(fn: () => Promise<T>): Promise<T>
}

/** A deployment's passphrase for the simulated key stores: the NODEDIRs die with the run. */
const PASS = 'simulation-only'

/**
 * Key generations in flight per shard process. A new key file costs one scrypt (tens of ms of
 * CPU even at MIN_SCRYPT_LOG_N) on libuv's thread pool: four threads that the shard's
 * hundred nodes share with every LevelDB write and WebCrypto signature. In a deployment each
 * node has its own pool; here a wave of renewals queued every node's auth signatures and store
 * writes behind up to a hundred scrypts, long enough for certificates to expire in a 200-node
 * run at 4x. One at a time still outpaces the renewals of a 200-node fleet at 2x, and leaves
 * three threads to the rest.
 */
const KEY_GEN_SLOTS = 1

/**
 * The rotation tunables of a simulated node, from the certificate lifetime. Renewal keeps the
 * lifecycle's defaults (2/3 of the lifetime, up to 10 % earlier at random). The deadline check
 * runs four times a real second, so at 4x it still resolves one second of the run clock, as a
 * deployment's 1 s tick does. Retries scale with the lifetime: a deployment's 5 s to 10 min
 * against 24 h would let a 120 s certificate expire before its second retry; here they run
 * from 1/60 to 1/6 of the lifetime (2 s to 20 s of the run clock for 120 s).
 */
export function simRotationPolicy (certSeconds: number): Partial<RotationPolicy> {
  const life = certSeconds * 1000
  return { tickMs: 250, retryInitialMs: Math.max(1000, Math.round(life / 60)), retryMaxMs: Math.round(life / 6) }
}

/** The shard's rotation context, when the scenario rotates (mesh nodes only). */
export function rotationContext (init: ShardInit, directory: Directory, log: (ev: SimEvent) => void): RotationContext | undefined {
  const spec = init.scenario.rotation
  if (spec == null || init.rotation == null || init.adapter !== 'mesh') { return undefined }
  const clock = new RunClock(spec.clockSpeed)
  const roots = [parseCertificate(init.trust.root)]
  const intermediates = [parseCertificate(init.trust.issuing)]
  return {
    clock,
    caUrl: init.rotation.caUrl,
    policy: simRotationPolicy(spec.certSeconds),
    trust: { roots: () => roots, intermediates: () => intermediates },
    dir: join(init.workDir, 'nodedirs'),
    seed: init.seed,
    directory,
    log,
    keyGenSlot: slots(KEY_GEN_SLOTS),
    begin: (t0) => {
      clock.startFast(t0)
      if (init.shard === 0) { log({ e: 'clock', t: wallNow(), speed: clock.speed, fastFrom: t0, certSeconds: spec.certSeconds }) }
    }
  }
}

/**
 * One simulated node's certificate lifecycle, with the project's own parts: a NODEDIR (node.json,
 * cert.pem, chain.pem, root.pem, keys/) that `NodeFileStore` rewrites crash-safely, a
 * `SoftwareKeyStore` in which every rotation creates the new identity key (and from which the
 * old one is deleted once its certificate expired), the `CredentialSet` that `createMeshNode`
 * reads once per handshake, and the `RotationManager` that renews on schedule through
 * `POST /v1/rotate` (mutual TLS, the default HTTPS client). After each rotation it re-runs auth
 * on every live connection, as `NodeLifecycle.onRotated` does, and it logs rotations, auth
 * failures, ended sessions and connection closes for the summary.
 *
 * The enrollment key arrives from the coordinator as PKCS#8 and is held in memory, not written
 * to the key store: that write would cost a scrypt per node at start for nothing the run
 * measures (deleting it at expiry then finds no file, which the manager takes as done).
 */
export class SimRotation {
  readonly index: number
  readonly credentials: CredentialSet
  private readonly rc: RotationContext
  private readonly files: NodeFileStore
  private readonly keyStore: KeyStore
  private readonly peerId: string
  private readonly rng: Rng
  private manager?: RotationManager
  private node?: MeshNode
  /** notAfter of the certificate the next rotation replaces (run clock ms). */
  private expiring: number

  private constructor (index: number, rc: RotationContext, credentials: CredentialSet, files: NodeFileStore, keyStore: KeyStore, peerId: string) {
    this.index = index
    this.rc = rc
    this.credentials = credentials
    this.files = files
    this.keyStore = keyStore
    this.peerId = peerId
    this.rng = new Rng(`${rc.seed}/rotation/${index}`)
    this.expiring = credentials.current().leaf.notAfter
  }

  /** Writes node `m`'s NODEDIR and builds its credentials. */
  static async create (m: NodeMaterial, rc: RotationContext): Promise<SimRotation> {
    const dir = join(rc.dir, `n${m.index}`)
    const paths = nodePaths(dir)
    await mkdir(paths.keys, { recursive: true, mode: 0o700 })
    const leaf = parseCertificate(m.chain[0])
    const key = await softwareKeyFromPkcs8(IDENTITY_KEY_LABEL, 'P-256', m.identityPkcs8, false)
    const pem = (certs: Uint8Array[]): string => certs.map(c => derToPem(c, 'CERTIFICATE')).join('')
    const file: NodeFile = {
      version: 1,
      node_id: m.nodeId,
      peer_id: m.peerId,
      ca_url: rc.caUrl,
      serial: leaf.serialHex,
      not_before: new Date(leaf.notBefore).toISOString(),
      not_after: new Date(leaf.notAfter).toISOString(),
      enrolled_at: new Date(leaf.notBefore).toISOString(),
      identity_key: { store: 'software', label: IDENTITY_KEY_LABEL, algorithm: 'P-256' },
      host_key: { label: 'host', algorithm: 'Ed25519' },
      config: { bootstrap_peers: [], gossip_fanout: 6, crl_url: `${rc.caUrl}/v1/crl` }
    }
    await writeFileAtomic(paths.cert, pem(m.chain), 0o644)
    await writeFileAtomic(paths.chain, pem(m.chain.slice(1)), 0o644)
    await writeFileAtomic(paths.root, pem(m.chain.slice(-1)), 0o644)
    await writeFileAtomic(paths.nodeJson, JSON.stringify(file, null, 2) + '\n', 0o600)
    const credentials = new CredentialSet({ label: IDENTITY_KEY_LABEL, key, chain: m.chain, leaf })
    const store = new SoftwareKeyStore({ dir: paths.keys, passphrase: PASS, scryptLogN: MIN_SCRYPT_LOG_N })
    const keyStore: KeyStore = {
      generate: async (label, algorithm, options) => rc.keyGenSlot(async () => store.generate(label, algorithm, options)),
      load: async (label) => store.load(label),
      has: async (label) => store.has(label),
      delete: async (label) => { await store.delete(label) }
    }
    return new SimRotation(m.index, rc, credentials, new NodeFileStore(dir, file), keyStore, m.peerId)
  }

  /** The clock the node runs on. */
  get now (): () => number {
    return this.rc.clock.now
  }

  /** Listens to the node's auth outcomes (once: the node object outlives stops and starts). */
  attach (node: MeshNode): void {
    this.node = node
    const n = this.index
    const p = (peerId: string): number => this.rc.directory.indexOf(peerId) ?? -1
    node.addEventListener('peer:auth-failed', (e) => {
      const f = e.detail
      this.rc.log({ e: 'auth_failed', t: wallNow(), n, p: p(f.peerId), code: f.code, ...(f.chainCode != null ? { chainCode: f.chainCode } : {}), ...(f.remoteCode != null ? { remoteCode: f.remoteCode } : {}), direction: f.direction })
    })
    node.addEventListener('session:ended', (e) => {
      const s = e.detail
      this.rc.log({ e: 'session_ended', t: wallNow(), n, p: p(s.peerId), code: s.code, ...(s.chainCode != null ? { chainCode: s.chainCode } : {}) })
    })
    node.libp2p.addEventListener('connection:close', (e) => {
      this.rc.log({ e: 'conn_closed', t: wallNow(), n, p: p(e.detail.remotePeer.toString()) })
    })
  }

  /** Starts the schedule: a new RotationManager per start, as a restarted node process builds one. */
  start (): void {
    if (this.manager != null) { return }
    const n = this.index
    const m = new RotationManager({
      files: this.files,
      keyStore: this.keyStore,
      credentials: this.credentials,
      trust: this.rc.trust,
      peerId: this.peerId,
      policy: this.rc.policy,
      now: this.rc.clock.now,
      random: () => this.rng.next(),
      timeoutMs: 30_000
    })
    m.addEventListener('rotated', (e) => { void this.onRotated(e.detail) })
    m.addEventListener('rotation-failed', (e) => {
      const f = e.detail
      // STOPPED: the node is being stopped while an attempt was in flight (the run ending), not a failure.
      if (f.code === 'STOPPED') { return }
      this.rc.log({ e: 'rotation_failed', t: wallNow(), n, code: f.code, ...(f.serverCode != null ? { serverCode: f.serverCode } : {}), failures: f.failures })
    })
    m.addEventListener('key-deleted', (e) => { this.rc.log({ e: 'key_deleted', t: wallNow(), n, serial: e.detail.serialHex }) })
    this.manager = m
    m.start()
  }

  /** Stops the schedule and waits for an attempt in flight. */
  async stop (): Promise<void> {
    const m = this.manager
    this.manager = undefined
    await m?.stop()
  }

  /** Logs the rotation, then moves every live session onto the new certificate (NodeLifecycle.onRotated). */
  private async onRotated (r: RotatedEvent): Promise<void> {
    const c = this.rc.clock.now()
    this.rc.log({ e: 'rotated', t: wallNow(), n: this.index, serial: r.serialHex, prev: r.previousSerialHex, reason: r.reason, c, notAfter: r.notAfter, left: this.expiring - c })
    this.expiring = r.notAfter
    const node = this.node
    if (node == null || node.status !== 'started') { return }
    if (r.renewed) { rejoin(node) }
    const t = wallNow()
    const res = await node.auth.reauthenticateAll().catch(() => ({ ok: 0, failed: 1 }))
    this.rc.log({ e: 'reauth', t: wallNow(), n: this.index, ok: res.ok, failed: res.failed, ms: Math.round(wallNow() - t) })
  }
}

/**
 * After a renewal (the certificate had expired, so peers closed our sessions): forget the
 * back-offs the expired certificate earned and dial the known peers again, as
 * `NodeLifecycle.rejoin` does in a node process.
 */
function rejoin (node: MeshNode): void {
  for (const e of node.blockList.list()) { if (e.until !== Infinity) { node.blockList.forgive(e.peerId) } }
  for (const p of node.peers.list()) {
    if (!node.isAuthenticated(p.peerId)) { node.libp2p.dial(peerIdFromString(p.peerId)).catch(() => {}) }
  }
}

/** At most `n` of the given sections at once, the rest in call order. */
function slots (n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let free = n
  const waiting: Array<() => void> = []
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    if (free > 0) { free-- } else { await new Promise<void>(resolve => { waiting.push(resolve) }) }
    try {
      return await fn()
    } finally {
      const next = waiting.shift()
      if (next != null) { next() } else { free++ }
    }
  }
}
