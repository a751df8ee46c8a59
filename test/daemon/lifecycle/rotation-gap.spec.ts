import { randomBytes } from 'node:crypto'
import { expect } from 'aegir/chai'
import { createLifecycleMesh, fullMesh, gossipMeshed } from './harness.ts'
import type { LifecycleMesh } from './harness.ts'
import type { RotatedEvent } from '../../../src/daemon/lifecycle/index.ts'
import type { NodeRuntime } from '../../../src/daemon/runtime/node-runtime.ts'

/**
 * No gap under traffic while certificates rotate: five node runtimes (real enrollment service, NODEDIRs, QUIC on
 * loopback, gossip on) with 60 s certificates on a clock running SPEED times real time. Every
 * node rotates at 2/3 of its certificate's life (POST /v1/rotate over mutual TLS, new key in its
 * key store), at least three times, while node 0 publishes an anomaly signature every 100 ms of
 * real time. Checked all along: no message lost (every other node stores every signature), no
 * connection between the five closes, no session ends, and every open connection between them
 * is authenticated on a certificate valid at that instant (sampled every 25 ms), as is every
 * node's own certificate.
 */
const SPEED = 8
const CERT_SECONDS = 60
const ROTATIONS = 3
const N = 5

describe('lifecycle: rotation under traffic, five nodes, three rotations each, no gap (QUIC)', function () {
  let mesh: LifecycleMesh
  after(async () => { await mesh?.cleanup() })

  it('loses no message and never holds a session without a valid certificate', async () => {
    mesh = await createLifecycleMesh('gap', { speed: SPEED, certSeconds: CERT_SECONDS })
    const dirs: string[] = []
    for (let i = 0; i < N; i++) { dirs.push(await mesh.enroll(`gap-${i}`)) }
    const rs: NodeRuntime[] = []
    for (let i = 0; i < N; i++) { rs.push(await mesh.start(dirs[i], 60 + i, [], { options: { gossip: { sweepIntervalMs: 0 } } })) }
    await fullMesh(rs)
    await gossipMeshed(rs, N - 1)
    const peerIds = new Set(rs.map(r => r.node.peerId.toString()))

    // 1. Watch everything that would show a gap.
    const rotations = rs.map(() => [] as RotatedEvent[])
    const received = rs.map(() => new Set<string>())
    let closes = 0
    let ended = 0
    const violations: string[] = []
    rs.forEach((r, i) => {
      r.lifecycle.rotation.addEventListener('rotated', (e) => { rotations[i].push(e.detail) })
      r.node.addEventListener('anomaly', (e) => { received[i].add(e.detail.message_id) })
      r.node.addEventListener('session:ended', () => { ended++ })
      r.node.libp2p.addEventListener('connection:close', (e) => { if (peerIds.has(e.detail.remotePeer.toString())) { closes++ } })
    })
    const sample = (): void => {
      const now = mesh.clock.ms()
      rs.forEach((r, i) => {
        const own = r.lifecycle.credentials.current().leaf
        if (now > own.notAfter) { violations.push(`node ${i} holds an expired certificate`) }
        for (const c of r.node.libp2p.getConnections()) {
          if (c.status !== 'open' || !peerIds.has(c.remotePeer.toString())) { continue }
          const s = r.node.auth.getAuthenticated(c)
          if (s == null || now > s.notAfter) { violations.push(`node ${i}: connection to ${c.remotePeer.toString()} without a valid certificate`) }
        }
      })
    }
    const sampler = setInterval(sample, 25)

    // 2. Traffic: node 0 publishes every 100 ms until every node rotated ROTATIONS times.
    const published: string[] = []
    const publishErrors: string[] = []
    const t0 = performance.now()
    const deadline = t0 + 60_000
    while (rotations.some(rr => rr.length < ROTATIONS) && performance.now() < deadline) {
      try {
        published.push((await rs[0].node.publishAnomaly({ type: 'sha256', value: randomBytes(32).toString('hex') })).messageId)
      } catch (err: any) {
        publishErrors.push(`${String(err?.name)}:${String(err?.code)}`)
      }
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    const tRotated = performance.now()
    // 3. Let the last messages arrive (bounded), then stop watching.
    const all = (i: number): boolean => published.every(id => received[i].has(id))
    const until = performance.now() + 10_000
    while (!rs.every((_, i) => all(i)) && performance.now() < until) { await new Promise(resolve => setTimeout(resolve, 50)) }
    clearInterval(sampler)
    sample()

    const lost = rs.map((_, i) => i === 0 ? 0 : published.filter(id => !received[i].has(id)).length)
    // eslint-disable-next-line no-console -- the figures of this test
    console.log(`      ${N} nodes, ${CERT_SECONDS} s certificates at ${SPEED}x: ${rotations.map(r => r.length).join('/')} rotations in ${((tRotated - t0) / 1000).toFixed(1)} s real (${((tRotated - t0) * SPEED / 1000).toFixed(0)} s of certificate time); ${published.length} signatures published, lost per node ${lost.join('/')}; ${violations.length} samples without a valid certificate; ${closes} connections closed; ${ended} sessions ended`)
    expect(publishErrors).to.deep.equal([])
    for (const rr of rotations) {
      expect(rr.length).to.be.at.least(ROTATIONS)
      // Each one a real rotation: a new serial, issued while the old certificate was still valid.
      for (const e of rr) { expect(e).to.include({ renewed: false }) }
    }
    expect(published.length).to.be.greaterThan(50)
    expect(lost).to.deep.equal(rs.map(() => 0))
    expect(violations).to.deep.equal([])
    expect(closes).to.equal(0)
    expect(ended).to.equal(0)
    // Every node now presents a certificate other than its enrollment one, and its peers know it.
    // The loop above ends as the last rotation lands, whose re-auths may still be on the wire:
    // give them (bounded) time before reading the peer tables.
    const known = (): boolean => rs.every(r => rs.every(o => o === r || o.node.peers.get(r.node.peerId.toString())?.certSerial === r.lifecycle.credentials.current().leaf.serialHex))
    const settle = performance.now() + 5_000
    while (!known() && performance.now() < settle) { await new Promise(resolve => setTimeout(resolve, 25)) }
    for (const r of rs) {
      const serial = r.lifecycle.credentials.current().leaf.serialHex
      for (const o of rs) {
        if (o === r) { continue }
        expect(o.node.peers.get(r.node.peerId.toString())?.certSerial).to.equal(serial)
      }
    }
  })
})
