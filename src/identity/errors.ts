import { MeshError } from '../errors.ts'

/** Bounded codes for key store refusals. */
export type KeyStoreErrorCode =
  | 'NO_PASSPHRASE'
  | 'WRONG_PASSPHRASE'
  | 'TAMPERED_KEY_FILE'
  | 'UNSUPPORTED_KEY_FILE'
  | 'PASSPHRASE_FILE_UNREADABLE'
  | 'KEY_NOT_FOUND'
  | 'KEY_EXISTS'
  | 'BAD_LABEL'
  | 'UNSUPPORTED_ALGORITHM'
  | 'NOT_EXPORTABLE'

/** Raised by every key store backend; callers branch on `code`, never on the backend. */
export class KeyStoreError extends MeshError<KeyStoreErrorCode> {
  static name = 'KeyStoreError'
}
