import { LabMesh, PUBLIC_QUIC_PORT } from './mesh.ts'
import { describeNodes, missingPairs, snapshot, timeUntil } from './observe.ts'
import { Lab } from './topology.ts'

/**
 * The scenarios' world: a CA host and one public member on the WAN, a stranger's host there too;
 * site "a" behind a port-restricted cone NAT (a1, a2, a3), site "b" behind a symmetric NAT (b1,
 * b2), site "u" behind a UPnP router (u1). The public member `pub` runs `bootstrap-server`
 * announcing its address; every other member knows only `pub` and the CA's mesh node.
 *
 * One world serves all five scenarios of a test run (building it, with six enrollments over
 * HTTPS and scrypt-protected keys, is most of a scenario's time); each scenario first waits for
 * the full mesh of the members still in it, so it does not depend on which ran before.
 */
export const MEMBERS = ['pub', 'a1', 'a2', 'a3', 'b1', 'b2', 'u1']
const NAT_OF: Record<string, string> = { pub: 'public', a1: 'cone', a2: 'cone', a3: 'cone', b1: 'symmetric', b2: 'symmetric', u1: 'upnp' }
/** A cold mesh of seven on a loaded two-core machine: QUIC handshakes, mesh auth, relay reservations. */
export const FULL_MESH_MS = 120_000

export interface World {
  lab: Lab
  mesh: LabMesh
  /** Members still in the mesh (a revoked one is taken out). */
  members: string[]
  natOf(nodeId: string): string
  /** From the first `node start` to every member pair authenticated; null if it did not form. */
  coldStartMs: number | null
  enrollMs: number
  /** Tears the lab down; with `logsTo`, first saves every process's output there. */
  destroy(opts?: { logsTo?: string }): Promise<void>
}

export type Log = (line: string) => void

export interface WorldOptions {
  /** Start `pub` with `--announce` of its address, as an operator of a public member does (default true). */
  announce?: boolean
}

export async function buildWorld (log: Log, opts: WorldOptions = {}): Promise<World> {
  const lab = await Lab.create({
    public: ['ca', 'pub', 'str'],
    sites: [
      { name: 'a', nat: 'cone', hosts: ['a1', 'a2', 'a3'] },
      { name: 'b', nat: 'symmetric', hosts: ['b1', 'b2'] },
      { name: 'u', nat: 'upnp', hosts: ['u1'] }
    ]
  })
  try {
    const mesh = new LabMesh(lab)
    // The public member's WAN bytes: relayed traffic goes through it (the report's "relay bytes").
    await lab.countTraffic('pub')
    const t0 = Date.now()
    await mesh.startCa('ca')
    log(`lab: CA on ${mesh.caUrl}${mesh.caMesh != null ? `, its mesh node ${mesh.caMesh.addr}` : ', no mesh node'}`)
    const token = await mesh.token(MEMBERS.length)
    // Two at a time: each enrollment is mostly scrypt on a two-core machine.
    for (let i = 0; i < MEMBERS.length; i += 2) { await Promise.all(MEMBERS.slice(i, i + 2).map(async id => mesh.enroll(id, id, token))) }
    const enrollMs = Date.now() - t0
    log(`lab: ${MEMBERS.length} members enrolled over HTTPS (through their NATs) in ${enrollMs} ms`)

    const caBoot = mesh.caMesh != null ? ['--bootstrap', mesh.caMesh.addr] : []
    const pubIp = lab.host('pub').ip
    const pubListen = `/ip4/${pubIp}/udp/${PUBLIC_QUIC_PORT}/quic-v1`
    const t1 = Date.now()
    await mesh.start('pub', 'pub', 'bootstrap-server', ['--listen', pubListen, ...(opts.announce !== false ? ['--announce', pubListen] : []), ...caBoot])
    const boot = ['--bootstrap', mesh.bootstrapAddr('pub', PUBLIC_QUIC_PORT), ...caBoot]
    const rest = MEMBERS.filter(m => m !== 'pub')
    // Three at a time: a start is mostly key decryption and module loading on a shared machine.
    for (let i = 0; i < rest.length; i += 3) {
      await Promise.all(rest.slice(i, i + 3).map(async id => mesh.start(id, id, 'node', ['--listen', '/ip4/0.0.0.0/udp/0/quic-v1', ...boot])))
    }
    const members = [...MEMBERS]
    const formed = await timeUntil(async () => missingPairs(await snapshot(mesh, members), members).length === 0, FULL_MESH_MS, 1000)
    const coldStartMs = formed == null ? null : Date.now() - t1
    log(coldStartMs == null
      ? `lab: the mesh did not form within ${FULL_MESH_MS} ms; missing ${missingPairs(await snapshot(mesh, members), members).join(' ')}`
      : `lab: full authenticated mesh of ${members.length} ${coldStartMs} ms after the first start`)
    for (const line of await describeNodes(mesh, members)) { log(`lab:   ${line}`) }
    return {
      lab,
      mesh,
      members,
      natOf: id => NAT_OF[id] ?? 'unknown',
      coldStartMs,
      enrollMs,
      destroy: async (o = {}) => { await lab.destroy(o) }
    }
  } catch (err) {
    await lab.destroy()
    throw err
  }
}
