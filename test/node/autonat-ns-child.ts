/*
 * Child process of test/node/autonat-ns.spec.ts, run inside the test's network namespace, where
 * 11.78.0.1 and 11.78.0.2 (public to libp2p) sit on a dummy interface. Two members A and B, one
 * on each address, in this one process: B dials A, and A's AutoNAT client asks B to dial A's
 * public listen address back. Prints one JSON line: A's reachability before and after, and what
 * A advertises, then exits.
 */
import { createTestCa, enroll, loopbackOptions, startNode, waitForEvent } from './fixtures.ts'
import type { ReachabilityReport } from '../../src/node/index.ts'

const member = (host: string): ReturnType<typeof loopbackOptions> => loopbackOptions('quic', { listen: [`/ip4/${host}/udp/0/quic-v1`], dht: { enabled: false }, relay: { enabled: false } })

const tca = await createTestCa('autonat-ns')
const A = await startNode('ns-a', await enroll(tca, 'ns-a'), tca, member('11.78.0.1'))
const B = await startNode('ns-b', await enroll(tca, 'ns-b'), tca, member('11.78.0.2'))
try {
  const before = A.reachability.report()
  const advertisedBefore = A.getMultiaddrs().map(String)
  // A's listen address: not among its advertised addresses yet (public, unverified).
  const listen: string | undefined = (A.libp2p as any).components.transportManager.getAddrs().map(String).find((a: string) => a.includes('11.78.0.1'))
  if (listen == null) { throw new Error('A does not listen on 11.78.0.1') }
  const confirmed = waitForEvent<ReachabilityReport>(A.reachability, 'change', r => r.status === 'public', 30_000)
  confirmed.catch(() => {})
  await B.dial(`${listen}/p2p/${A.peerId.toString()}`, { signal: AbortSignal.timeout(10_000) })
  const after = await confirmed
  process.stdout.write(JSON.stringify({ listen, before, advertisedBefore, after, advertisedAfter: A.getMultiaddrs().map(String), servedByB: B.reachability.report().autonat.served }) + '\n')
} catch (err: any) {
  process.stdout.write(JSON.stringify({ error: String(err?.message ?? err) }) + '\n')
} finally {
  await A.stop()
  await B.stop()
  await tca.close()
}
