import { autoNATv2 } from '@libp2p/autonat-v2'
import { requireAuthenticated } from '../../protocols/auth/index.ts'
import { overriding, replacingComponent } from './component-proxy.ts'
import type { AutonatOptions } from './nat-options.ts'
import type { AuthGate } from '../../protocols/auth/index.ts'
import type { StreamHandler } from '@libp2p/interface'

/**
 * AutoNAT v2 among members: a member asks other members to dial its public address candidates
 * back, and libp2p's address manager counts a candidate as verified (advertised by identify and
 * the DHT) only once one did. Members answer members only: a stranger could otherwise make a
 * member dial any address it names (the protocol's amplification guard bounds the bytes, not
 * the dials), and would learn which of a member's addresses work.
 */

/**
 * Our own protocol prefix (`/dadm-mesh/autonat/2/...`), as the DHT has its own: a mesh node
 * never answers, nor asks, a public libp2p network's AutoNAT.
 */
export const AUTONAT_PROTOCOL_PREFIX = 'dadm-mesh'
export const AUTONAT_DIAL_REQUEST = `/${AUTONAT_PROTOCOL_PREFIX}/autonat/2/dial-request`
export const AUTONAT_DIAL_BACK = `/${AUTONAT_PROTOCOL_PREFIX}/autonat/2/dial-back`

/** What the AutoNAT server did, for status and metrics. */
export interface AutonatCounts {
  /** Dial requests from authenticated members that reached libp2p's server. */
  served: number
  /**
   * Streams the guard refused before libp2p saw them, by AuthError code: a peer whose auth failed
   * or whose session ended. A stranger is refused one step earlier, by mesh auth's "na" to any
   * stream before auth (protocols/auth/first-exchange.ts), and is not counted here.
   */
  refused: Record<string, number>
}

/** Counts the AutoNAT server's work; one per node. */
export class AutonatLedger {
  served = 0
  readonly refused = new Map<string, number>()
  /** Refusal codes kept apart at most; others add to `OTHER` (the codes are AuthError's bounded set). */
  private static readonly MAX_CODES = 32

  refuse (code: string): void {
    const key = this.refused.has(code) || this.refused.size < AutonatLedger.MAX_CODES ? code : 'OTHER'
    this.refused.set(key, (this.refused.get(key) ?? 0) + 1)
  }

  counts (): AutonatCounts {
    return { served: this.served, refused: Object.fromEntries(this.refused) }
  }
}

/** The node's auth service as AutoNAT needs it: libp2p's components hold it under `auth`. */
interface AutonatComponents { registrar: any, auth: AuthGate }

/**
 * libp2p's AutoNAT v2 with every handler it registers (dial request, dial back) wrapped in the
 * auth guard at registration, so no stream reaches it before its connection authenticated, and
 * none ever from a stranger. The guard's refusals are counted by code in `ledger`.
 */
export function memberAutonat (o: AutonatOptions, ledger: AutonatLedger): (components: AutonatComponents) => unknown {
  return (components) => {
    const gate: AuthGate = {
      waitForAuthentication: async (connection, options) => {
        try {
          return await components.auth.waitForAuthentication(connection, options)
        } catch (err: any) {
          ledger.refuse(typeof err?.code === 'string' ? err.code : 'NOT_AUTHENTICATED')
          throw err
        }
      }
    }
    const registrar = components.registrar
    const guarded = overriding(registrar, {
      handle: async (protocol: string, handler: StreamHandler, options?: unknown) => {
        const counted: StreamHandler = protocol === AUTONAT_DIAL_REQUEST
          ? async (stream, connection) => { ledger.served++; await handler(stream, connection) }
          : handler
        return registrar.handle(protocol, requireAuthenticated(gate, counted), options as any)
      }
    })
    const withGuard = replacingComponent(components, 'registrar', guarded)
    return autoNATv2({
      protocolPrefix: AUTONAT_PROTOCOL_PREFIX,
      timeout: o.timeoutMs,
      maxInboundStreams: o.maxInboundStreams
    })(withGuard as any)
  }
}
