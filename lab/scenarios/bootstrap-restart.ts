import { missingPairs, snapshot, timeUntil } from '../observe.ts'
import { FULL_MESH_MS } from '../world.ts'
import type { Log, World } from '../world.ts'

export interface BootstrapRestartResult {
  missingBefore: string[]
  /** The public member's addresses (start line) and peer id, before and after. */
  before: { peerId: string, addrs: string[] }
  after: { peerId: string, addrs: string[] }
  /** SIGKILL's exit (null code, signal SIGKILL). */
  killedBy: string | null
  /** From the restarted process's start line to the full mesh again; null when it did not form. */
  reconnectMs: number | null
  missingAfter: string[]
}

/**
 * `bootstrap-restart`: the public member (bootstrap server and relay) is killed (SIGKILL, no
 * goodbye) and started again from the same NODEDIR and flags, so on the same addresses; every
 * member reconnects to it and the full mesh comes back without an operator.
 */
export async function bootstrapRestart (w: World, log: Log): Promise<BootstrapRestartResult> {
  const { mesh } = w
  const members = w.members
  await timeUntil(async () => missingPairs(await snapshot(mesh, members), members).length === 0, FULL_MESH_MS, 1000)
  const missingBefore = missingPairs(await snapshot(mesh, members), members)
  const pub = mesh.node('pub')
  const before = { peerId: pub.peerId, addrs: pub.addrs }
  await pub.proc.kill()
  const killedBy = pub.proc.child.signalCode
  log('bootstrap-restart: pub killed (SIGKILL)')
  const again = await mesh.restart('pub')
  const t0 = Date.now()
  const reconnectMs = await timeUntil(async () => missingPairs(await snapshot(mesh, members), members).length === 0, FULL_MESH_MS, 250)
  const missingAfter = missingPairs(await snapshot(mesh, members), members)
  log(`bootstrap-restart: ${reconnectMs == null ? `mesh not back, missing ${missingAfter.join(' ')}` : `full mesh again ${reconnectMs} ms after the restart`} (${Date.now() - t0} ms watched)`)
  return { missingBefore, before, after: { peerId: again.peerId, addrs: again.addrs }, killedBy, reconnectMs, missingAfter }
}
