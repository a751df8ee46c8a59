import 'reflect-metadata'
import * as x509 from '@peculiar/x509'
import { encodeRoles, ROLES_OID } from '../pki/roles-extension.ts'

/** The roles extension (src/pki/roles-extension.ts), non-critical, for a node leaf with at least one role. */
export function rolesExtension (roles: readonly string[]): x509.Extension {
  return new x509.Extension(ROLES_OID, false, Uint8Array.from(encodeRoles(roles)))
}
