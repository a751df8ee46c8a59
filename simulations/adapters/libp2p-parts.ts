import { quic } from '@chainsafe/libp2p-quic'
import { simLinkTransport } from '../link/sim-transport.ts'
import type { SimContext } from './types.ts'

/**
 * The connection-manager limits of a simulated node: hundreds of nodes dial each other within a
 * second at start, on one host, so libp2p's per-host inbound rate (5/s) and pending-upgrade cap
 * (10) would refuse most of them (DESIGN.md machine facts). Per-node connections stay far below
 * maxConnections with a degree-8 topology.
 */
export const SIM_CONNECTION_LIMITS = {
  maxConnections: 300,
  maxIncomingPendingConnections: 256,
  inboundConnectionThreshold: 10_000,
  dialTimeoutMs: 20_000,
  inboundUpgradeTimeoutMs: 20_000
}

/**
 * The pre-auth caps of a simulated node: every node of a QUIC run dials from 127.0.0.1 within a
 * second of start, so the member default of 16 waiting connections per source address would turn
 * honest nodes away. The global cap matches SIM_CONNECTION_LIMITS' pending-upgrade cap.
 */
export const SIM_PREAUTH_LIMITS = {
  maxPending: 256,
  maxPendingPerSource: 256
}

/** The transport list for node `i`: the link-model memory transport, or real QUIC. */
export function simTransports (ctx: SimContext): any[] {
  return ctx.transport === 'memory' ? [simLinkTransport(ctx.fabric, ctx.bridge)] : [quic()]
}

/** The listen address of node `i`. */
export function simListen (ctx: SimContext, i: number): string {
  return ctx.transport === 'memory' ? ctx.directory.memoryAddress(i) : ctx.quicListen(i)
}
