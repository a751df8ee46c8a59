import { randomBytes } from 'node:crypto'
import { StoreError } from './errors.ts'
import type { RevocationReason } from '../pki/revocation-reasons.ts'

/*
 * The records the CA's store keeps, and how it draws serial numbers: their own module, so that
 * readers of the records (inventory, backup, metrics) need not load the store.
 */

/** What a certificate was issued as. */
export type CertProfile = 'node' | 'admin' | 'server' | 'root' | 'intermediate'

/** One issued certificate, indexed by serial (and by node_id for node certificates). */
export interface IssuedCertRecord {
  serialHex: string
  profile: CertProfile
  /** node_id for node certs, admin name for admin certs, first DNS name or IP for server certs. */
  subject: string
  nodeId?: string
  peerId?: string
  notBefore: number
  notAfter: number
  issuedAt: number
  /** The certificate DER, base64. */
  der: string
  /** Node profile: the roles the certificate carries (absent when none). */
  roles?: string[]
  /** The node certificate this one took the place of, by rotation or renewal (proof of the old key). */
  supersedes?: { serialHex: string, via: SupersessionVia }
}

/** How a node certificate was superseded by its successor. */
export type SupersessionVia = 'rotate' | 'renew'

/**
 * A node certificate that has a successor: it may mint nothing more. One per serial, written in
 * the issuance batch of the successor, so a serial is superseded at most once.
 */
export interface SupersededRecord {
  serialHex: string
  /** The successor's serial. */
  by: string
  via: SupersessionVia
  time: number
}

export interface RevocationRecord {
  serialHex: string
  reason: RevocationReason
  time: number
  /** What the revoked certificate was, so each CRL lists only its own issuer's certificates. */
  profile: CertProfile
  /** The certificate's notAfter: CRLs may drop entries once the certificate has expired. */
  notAfter: number
  nodeId?: string
}

export interface NodeRevocationRecord {
  nodeId: string
  reason: RevocationReason
  time: number
}

export type AuditValue = string | number | boolean | null
export interface AuditEntry {
  seq: number
  time: number
  action: string
  fields: Record<string, AuditValue>
}

/** A CRL as last built, with the revocation epoch it reflects. */
export interface CrlRecord {
  crlNumber: number
  thisUpdate: number
  nextUpdate: number
  epoch: number
  der: string
}

/** Serial numbers are 16 bytes: 0x10..0x7f then 15 random bytes (see `randomSerialHex`). */
export const SERIAL_BYTES = 16

/** Tries before giving up on finding an unused serial: a repeat in 2^126 space means a broken RNG. */
export const SERIAL_ATTEMPTS = 8

/**
 * A random positive 128-bit serial in hex. The first byte is 0x10..0x7f so that the INTEGER is
 * positive and exactly 16 octets, and its hex has one form whoever prints it: no sign octet, no
 * leading zero nibble (`serialToHex` prints serials as numbers). About 126.8 bits of entropy, far
 * above the 64 the CA/Browser Forum asks for.
 */
export function randomSerialHex (): string {
  for (let i = 0; i < 64; i++) {
    const b = randomBytes(SERIAL_BYTES)
    b[0] &= 0x7f
    if (b[0] >= 0x10) { return b.toString('hex') }
  }
  throw new StoreError('SERIAL_SPACE_EXHAUSTED', 'random source keeps returning small first bytes')
}
