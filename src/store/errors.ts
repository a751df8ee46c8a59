import { MeshError } from '../errors.ts'

/** Bounded codes for store-level refusals. */
export type StoreErrorCode =
  | 'SERIAL_COLLISION'
  | 'SERIAL_SPACE_EXHAUSTED'
  | 'AUDIT_SEQUENCE_CONFLICT'
  | 'CRL_NUMBER_NOT_MONOTONIC'
  | 'NODE_ID_TAKEN' // a node certificate for a node_id that already has a live one (see CaStore.recordIssuedForNode)
  | 'ALREADY_SUPERSEDED'
  | 'NOTICE_LIMIT' // as many unexpired mesh notices as the CA keeps (CaStore.saveNotice)

/** Raised when a write would break a store invariant (unique serials, append-only audit). */
export class StoreError extends MeshError<StoreErrorCode> {
  static name = 'StoreError'
}
