import { MeshError } from '../errors.ts'

/** Why the metrics and health listener could not serve. */
export type MetricsErrorCode =
  /** The listen address is taken or not ours (EADDRINUSE, EADDRNOTAVAIL, EACCES). */
  | 'LISTEN_FAILED'
  /** A metric used against its type (a `set` on a counter), or a name registered twice in one registry. */
  | 'METRIC_CONFLICT'

export class MetricsError extends MeshError<MetricsErrorCode> {
  static name = 'MetricsError'
}
