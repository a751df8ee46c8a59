import { MeshError } from '../errors.ts'

/** Bounded codes for key store refusals. */
export type KeyStoreErrorCode =
  | 'NO_PASSPHRASE'
  | 'WRONG_PASSPHRASE'
  | 'TAMPERED_KEY_FILE'
  | 'UNSUPPORTED_KEY_FILE'
  | 'PASSPHRASE_FILE_UNREADABLE'
  | 'PASSPHRASE_TOO_SHORT'
  | 'ADMIN_PASSPHRASE_REUSED'
  | 'KEY_NOT_FOUND'
  | 'KEY_EXISTS'
  | 'BAD_LABEL'
  | 'UNSUPPORTED_ALGORITHM'
  | 'NOT_EXPORTABLE'
  // hardware backends (PKCS#11: SoftHSM2, tpm2-pkcs11)
  | 'MODULE_NOT_FOUND'
  | 'TOKEN_NOT_FOUND'
  | 'NO_PIN'
  | 'PIN_FILE_UNREADABLE'
  | 'WRONG_PIN'
  | 'PIN_LOCKED'
  | 'EXPORTABLE_NOT_SUPPORTED'
  | 'TOKEN_ERROR'
  | 'STORE_CLOSED'

/** Raised by every key store backend; callers branch on `code`, never on the backend. */
export class KeyStoreError extends MeshError<KeyStoreErrorCode> {
  static name = 'KeyStoreError'
}
