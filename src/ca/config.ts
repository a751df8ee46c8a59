import { readFile } from 'node:fs/promises'
import { isKeyAlgorithm } from '../identity/key-store.ts'
import { validateCaKeyStore } from './ca-key-store.ts'
import { IssuanceError } from './errors.ts'
import type { CaKeyStoreConfig } from './ca-key-store.ts'
import type { KeyAlgorithm } from '../identity/key-store.ts'

/** `DIR/ca.json`: the CA's settings and the node-facing mesh configuration it hands out. */
export interface CaConfig {
  version: 1
  key_algorithm: KeyAlgorithm
  /** True when an issuing intermediate signs node certs; false when the root signs them. */
  intermediate: boolean
  /** Default node certificate lifetime. */
  node_cert_validity_seconds: number
  /** Longest node certificate lifetime a caller may ask for. */
  node_cert_max_validity_seconds: number
  /** nextUpdate - thisUpdate of the issuing CA's CRL. */
  crl_validity_seconds: number
  /** nextUpdate - thisUpdate of the root's CRL (which lists revoked intermediates only). */
  root_crl_validity_seconds: number
  /** Where nodes fetch the CRL (the enrollment service's `GET /v1/crl`); null until one is set. */
  crl_url: string | null
  /** Multiaddrs nodes dial first. */
  bootstrap_peers: string[]
  /** Gossip fan-out handed to nodes: their gossipsub mesh degree D, GOSSIP_FANOUT_MIN..MAX. */
  gossip_fanout: number
  /** Where the CA keys live; absent means encrypted files in DIR/keys. */
  key_store?: CaKeyStoreConfig
}

/**
 * Defaults, each with its reason. Node certs 24 h, at most 7 d: DESIGN.md "Trust model"
 * (short-lived certs bound the damage of a stolen key even before its revocation reaches every
 * node). Issuing CRL 1 h: a node refuses a CRL past its nextUpdate, so this bounds how long an
 * attacker who blocks CRL updates can keep a revoked peer alive; nodes refetch well within it.
 * Root CRL 30 d: it only lists revoked intermediates and needs the root key, which may be
 * offline. Gossip fan-out 6: gossipsub's default mesh degree D.
 */
/**
 * Bounds of `gossip_fanout` (gossipsub D). Below 2 a node's gossip mesh is a chain that one lost
 * link splits; above 16 every message costs that many copies per hop for little gain in reach
 * (gossipsub's own upper mesh bound Dhi is 12 at D = 6).
 */
export const GOSSIP_FANOUT_MIN = 2
export const GOSSIP_FANOUT_MAX = 16

export const CA_CONFIG_DEFAULTS: Omit<CaConfig, 'key_algorithm' | 'intermediate'> = {
  version: 1,
  node_cert_validity_seconds: 24 * 3600,
  node_cert_max_validity_seconds: 7 * 24 * 3600,
  crl_validity_seconds: 3600,
  root_crl_validity_seconds: 30 * 24 * 3600,
  crl_url: null,
  bootstrap_peers: [],
  gossip_fanout: 6
}

/** Largest ca.json we read. */
const MAX_CONFIG_BYTES = 256 * 1024

const positiveInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0

/** Checks a parsed ca.json; throws BAD_CA_CONFIG naming the first bad field. */
export function validateCaConfig (raw: unknown): CaConfig {
  const bad = (field: string): never => { throw new IssuanceError('BAD_CA_CONFIG', `ca.json: bad or missing ${field}`) }
  if (raw == null || typeof raw !== 'object' || Array.isArray(raw)) { return bad('object') }
  const c = raw as Record<string, unknown>
  if (c.version !== 1) { bad('version') }
  if (typeof c.key_algorithm !== 'string' || !isKeyAlgorithm(c.key_algorithm)) { bad('key_algorithm') }
  if (typeof c.intermediate !== 'boolean') { bad('intermediate') }
  for (const f of ['node_cert_validity_seconds', 'node_cert_max_validity_seconds', 'crl_validity_seconds', 'root_crl_validity_seconds', 'gossip_fanout']) {
    if (!positiveInt(c[f])) { bad(f) }
  }
  if ((c.gossip_fanout as number) < GOSSIP_FANOUT_MIN || (c.gossip_fanout as number) > GOSSIP_FANOUT_MAX) { bad(`gossip_fanout (${GOSSIP_FANOUT_MIN} to ${GOSSIP_FANOUT_MAX})`) }
  if ((c.node_cert_validity_seconds as number) > (c.node_cert_max_validity_seconds as number)) { bad('node_cert_validity_seconds (above the maximum)') }
  if (c.crl_url !== null && typeof c.crl_url !== 'string') { bad('crl_url') }
  if (!Array.isArray(c.bootstrap_peers) || c.bootstrap_peers.some(p => typeof p !== 'string')) { bad('bootstrap_peers') }
  if (c.key_store != null) {
    validateCaKeyStore(c.key_store)
    if (c.key_store !== null && (c.key_store as { type?: unknown }).type === 'pkcs11' && c.key_algorithm !== 'P-256') { bad('key_algorithm (a PKCS#11 CA key is P-256)') }
  }
  return c as unknown as CaConfig
}

/** Reads and validates `path`. */
export async function readCaConfig (path: string): Promise<CaConfig> {
  let text: string
  try {
    const bytes = await readFile(path)
    if (bytes.length > MAX_CONFIG_BYTES) { throw new Error('ca.json is too large') }
    text = bytes.toString('utf8')
  } catch (err: any) {
    if (err.code === 'ENOENT') { throw new IssuanceError('CA_NOT_FOUND', `no CA at ${path}`) }
    throw new IssuanceError('BAD_CA_CONFIG', `cannot read ${path}`, { cause: err })
  }
  try {
    return validateCaConfig(JSON.parse(text))
  } catch (err) {
    if (err instanceof IssuanceError) { throw err }
    throw new IssuanceError('BAD_CA_CONFIG', `${path} is not JSON`, { cause: err })
  }
}
