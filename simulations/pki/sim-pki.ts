import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { MIN_SCRYPT_LOG_N } from '../../src/identity/key-file.ts'
import { generatePkcs8, softwareKeyFromPkcs8 } from '../../src/identity/software-key.ts'
import { createCsr } from '../../src/ca/csr-builder.ts'
import { MeshCa } from '../../src/ca/index.ts'
import { pemToDerAll } from '../../src/util/pem.ts'

/** What a shard needs to run one enrolled node (plain data: crosses process boundaries). */
export interface NodeMaterial {
  index: number
  nodeId: string
  peerId: string
  /** libp2p host key, protobuf. */
  hostKey: Uint8Array
  /** Identity key, PKCS#8 P-256. */
  identityPkcs8: Uint8Array
  /** Leaf first, then the issuing chain up to (and including) the root. */
  chain: Uint8Array[]
  serialHex: string
}

/** The trust material every node gets. */
export interface TrustMaterial {
  root: Uint8Array
  issuing: Uint8Array
}

const DAY = 24 * 3600 * 1000
/** The CA's key file passphrase: the CA is thrown away with the run's temp dir. */
const PASS = 'simulation-only'

/**
 * The run's mesh CA: a real `MeshCa` (root + issuing CA, LevelDB state) in a temp dir, with the
 * cheapest scrypt the key file allows (the keys die with the run). Enrollment is the library
 * path of the HTTP service: identity key, CSR naming node_id and PeerId, `issue`.
 */
export class SimPki {
  readonly ca: MeshCa
  readonly trust: TrustMaterial
  private readonly dir: string

  private constructor (ca: MeshCa, dir: string) {
    this.ca = ca
    this.dir = dir
    this.trust = { root: ca.rootCertificate.der, issuing: ca.issuingCertificate.der }
  }

  /**
   * `parent`: where the CA's temp dir goes (the run's store dir when the CA serves during the run:
   * its sync LevelDB writes must not meet this VM's disk stalls). `nodeCertSeconds`: the node
   * certificate lifetime ca.json gives rotations (`/v1/rotate` issues with it).
   */
  static async create (now: number, opts: { parent?: string, nodeCertSeconds?: number } = {}): Promise<SimPki> {
    const dir = await mkdtemp(join(opts.parent ?? tmpdir(), 'dadm-sim-ca-'))
    const config = opts.nodeCertSeconds != null ? { config: { node_cert_validity_seconds: opts.nodeCertSeconds } } : {}
    const ca = await MeshCa.init({ dir: join(dir, 'ca'), passphrase: PASS, now: new Date(now - DAY), scryptLogN: MIN_SCRYPT_LOG_N, ...config })
    return new SimPki(ca, dir)
  }

  /**
   * Enrolls node `index` (node_id `sim-<index>`): fresh host key, identity key, certificate.
   * `cert`: when it was issued and for how long (default: an hour ago, for 24 h).
   */
  async enroll (index: number, now: number, cert: { issuedAt: number, validitySeconds: number } = { issuedAt: now - 3600_000, validitySeconds: 24 * 3600 }): Promise<NodeMaterial> {
    const hostKey = await generateKeyPair('Ed25519')
    const peerId = peerIdFromPrivateKey(hostKey).toString()
    const nodeId = `sim-${index}`
    const pkcs8 = await generatePkcs8('P-256')
    const identity = await softwareKeyFromPkcs8(`${nodeId}-identity`, 'P-256', pkcs8, false)
    const csr = await createCsr(identity, { nodeId, peerId })
    const issued = await this.ca.issue({ csr, now: new Date(cert.issuedAt), nodeId, validitySeconds: cert.validitySeconds })
    return {
      index,
      nodeId,
      peerId,
      hostKey: privateKeyToProtobuf(hostKey),
      identityPkcs8: new Uint8Array(pkcs8),
      chain: [issued.der, ...pemToDerAll(issued.chainPem, 'CERTIFICATE')],
      serialHex: issued.serialHex
    }
  }

  /** Revokes the given serials and returns the new CA-signed CRL (DER). */
  async revoke (serials: string[], now: number): Promise<Uint8Array> {
    for (const serialHex of serials) { await this.ca.revoke({ serialHex, now: new Date(now - 1000) }) }
    return (await this.ca.buildCrl(new Date(now - 500))).der
  }

  async close (): Promise<void> {
    await this.ca.close()
    await rm(this.dir, { recursive: true, force: true })
  }
}
