import { MeshError } from '../errors.ts'

/** Bounded codes of `ca backup` and `ca restore`. */
export type CaBackupErrorCode =
  | 'NOT_A_CA' // --dir holds no ca.json
  | 'BACKUP_TARGET_NOT_EMPTY' // --out exists and is not an empty directory
  | 'BACKUP_TARGET_UNWRITABLE' // the running service (the CA's user) may not create or write --out
  | 'RESTORE_TARGET_NOT_EMPTY' // the restore's --dir exists and is not an empty directory
  | 'BACKUP_CORRUPT' // the manifest is missing or malformed, or a file does not match it
  | 'BACKUP_TOO_LARGE' // more files or bytes outside the store than a CA directory holds
  | 'UNSUPPORTED_FILE' // a symbolic link or other non-regular file in the CA directory
  | 'SEEN_CRL_UNREADABLE' // --seen-crl is not a CRL (PEM or DER)
  | 'SEEN_CRL_FOREIGN' // --seen-crl is not signed by this CA's root or issuing key
  | 'BACKUP_NOT_RESTORED' // a backup copy opened as a CA without `ca restore`

/** Raised by backup and restore; the message names the file or directory at fault. */
export class CaBackupError extends MeshError<CaBackupErrorCode> {
  static name = 'CaBackupError'
}
