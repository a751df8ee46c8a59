import { content, encodeTlv, expectTag, TAG } from '../util/der.ts'
import { MESH_OID_ARC } from './attested-extension.ts'
import { X509FormatError } from './x509-errors.ts'
import { decodeExtension } from './x509-extensions.ts'
import type { Certificate } from './certificate.ts'

/**
 * The roles extension: the roles the CA granted a node, from the enrollment token. Later
 * role-scoped encryption hands keys by these names, so only the CA may set them: the CA never
 * copies a CSR's requested extensions, and rotation and renewal copy the roles of the certificate
 * they replace.
 *
 * `MeshRoles ::= SEQUENCE SIZE (1..16) OF UTF8String`, each role `^[a-z][a-z0-9-]{0,31}$`,
 * sorted (byte order) and unique, so that one set of roles has exactly one encoding and two
 * certificates can be compared byte for byte. Non-critical, like the attested-device extension,
 * so that software which does not know it (openssl, browsers) still accepts the certificate.
 * A node without roles carries no extension at all (the SIZE constraint excludes an empty list).
 */
export const ROLES_OID = `${MESH_OID_ARC}.1.2`

/** Most roles one certificate carries: keeps the extension and per-role key lookups small. */
export const MAX_ROLES = 16

/** Lower-case ASCII, a letter first, at most 32 characters: safe in file names, logs and labels. */
export const ROLE_PATTERN = '^[a-z][a-z0-9-]{0,31}$'
const ROLE_RE = new RegExp(ROLE_PATTERN)

/** True when `s` is a valid role name. */
export function isValidRole (s: unknown): s is string {
  return typeof s === 'string' && ROLE_RE.test(s)
}

/**
 * The canonical form of a set of roles: sorted and without repeats. Throws RangeError on a bad
 * name or more than MAX_ROLES distinct roles (callers map it to their own bounded codes).
 */
export function normalizeRoles (roles: readonly string[]): string[] {
  const bad = roles.find(r => !isValidRole(r))
  if (bad != null) { throw new RangeError(`invalid role name ${JSON.stringify(bad)}: must match ${ROLE_PATTERN}`) }
  const out = [...new Set(roles)].sort()
  if (out.length > MAX_ROLES) { throw new RangeError(`at most ${MAX_ROLES} roles`) }
  return out
}

/** DER of the extension value (extnValue's content) for 1..MAX_ROLES roles. */
export function encodeRoles (roles: readonly string[]): Uint8Array {
  const sorted = normalizeRoles(roles)
  if (sorted.length === 0) { throw new RangeError('no roles: leave the extension out') }
  const items = sorted.map(r => encodeTlv(TAG.UTF8_STRING, new TextEncoder().encode(r)))
  const body = new Uint8Array(items.reduce((n, i) => n + i.length, 0))
  let at = 0
  for (const i of items) { body.set(i, at); at += i.length }
  return encodeTlv(TAG.SEQUENCE, body)
}

/** Strict decode of the extension value; MALFORMED_EXTENSION on anything but the canonical form. */
export function decodeRoles (value: Uint8Array): string[] {
  return decodeExtension({ oid: ROLES_OID, critical: false, value }, (node) => {
    const seq = expectTag(node, TAG.SEQUENCE, 'MeshRoles')
    const n = seq.children.length
    if (n < 1 || n > MAX_ROLES) { throw new X509FormatError('MALFORMED_EXTENSION', `MeshRoles holds 1..${MAX_ROLES} roles`) }
    const roles: string[] = []
    for (const child of seq.children) {
      // ASCII only by the pattern, so reading the bytes as latin1 cannot hide a UTF-8 trick.
      const role = Buffer.from(content(expectTag(child, TAG.UTF8_STRING, 'role'))).toString('latin1')
      if (!isValidRole(role)) { throw new X509FormatError('MALFORMED_EXTENSION', 'invalid role name in MeshRoles') }
      const prev = roles[roles.length - 1]
      if (prev != null && prev >= role) { throw new X509FormatError('MALFORMED_EXTENSION', 'MeshRoles must be sorted and unique') }
      roles.push(role)
    }
    return roles
  })
}

/** The roles a certificate carries: empty when it has no roles extension; MALFORMED_EXTENSION when broken. */
export function rolesOf (cert: Certificate): string[] {
  const ext = cert.extensions.get(ROLES_OID)
  if (ext == null) { return [] }
  if (ext.critical) { throw new X509FormatError('MALFORMED_EXTENSION', 'the roles extension must not be critical') }
  return decodeRoles(ext.value)
}
