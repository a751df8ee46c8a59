import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect } from 'aegir/chai'
import { ip } from '../../lab/exec.ts'
import { labNamespaces } from '../../lab/sweep.ts'
import { inLabRanges, Lab } from '../../lab/topology.ts'
import { requireRoot } from './harness.ts'

const PROBE = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'lab', 'udp-probe.ts')
const ECHO_PORT = 7000
const CLIENT_PORT = 5555

/** Addresses of the root namespace that fall in the lab's ranges, from `ip -j addr` and `ip -j route`. */
async function rootLabFootprint (): Promise<string[]> {
  const inLab = (a: string): boolean => inLabRanges(a.split('/')[0])
  const addrs = (JSON.parse(await ip('-j', 'addr')) as Array<{ addr_info: Array<{ local: string }> }>).flatMap(i => i.addr_info.map(a => a.local))
  const routes = (JSON.parse(await ip('-j', 'route', 'show', 'table', 'all')) as Array<{ dst: string }>).map(r => r.dst).filter(d => /^\d/.test(d))
  return [...addrs.filter(inLab).map(a => `addr ${a}`), ...routes.filter(inLab).map(r => `route ${r}`)]
}

type Seen = Array<{ target: string, seen: string | null }>

describe('lab harness: namespaces, NAT routers, faults, cleanup', function () {
  let lab: Lab | undefined

  before(async function () {
    this.timeout(120_000)
    requireRoot(this)
    lab = await Lab.create({
      public: ['w1', 'w2'],
      sites: [
        { name: 'c', nat: 'cone', hosts: ['c1'] },
        { name: 's', nat: 'symmetric', hosts: ['s1'] },
        { name: 'u', nat: 'upnp', hosts: ['u1'] }
      ]
    })
    for (const h of ['w1', 'w2', 'u1']) {
      await lab.spawn(h, `echo ${h}`, [process.execPath, PROBE, 'echo', String(ECHO_PORT)]).waitFor(/echo on/, 30_000)
    }
  })

  after(async function () {
    this.timeout(60_000)
    await lab?.destroy()
  })

  const targets = (): string[] => ['w1', 'w2'].map(h => `${lab?.host(h).ip ?? ''}:${ECHO_PORT}`)
  const send = async (from: string, port = CLIENT_PORT, to = targets()): Promise<Seen> =>
    JSON.parse(await (lab as Lab).exec(from, [process.execPath, PROBE, 'send', String(port), ...to], { timeoutMs: 30_000 }))

  it('the WAN addresses are public to libp2p and exist only inside the lab: the root namespace has no address or route in the lab ranges', async () => {
    const { isPrivateIp } = await import('@libp2p/utils')
    const l = lab as Lab
    expect(isPrivateIp(l.host('w1').ip)).to.equal(false)
    expect(isPrivateIp(l.site('c').wanIp)).to.equal(false)
    expect(isPrivateIp(l.host('c1').ip)).to.equal(true)
    expect(await rootLabFootprint()).to.deep.equal([])
  })

  it('cone: a host behind it reaches the WAN, from one public address and port whatever the destination (endpoint-independent mapping)', async () => {
    const seen = await send('c1')
    const wan = (lab as Lab).site('c').wanIp
    expect(seen.map(s => s.seen)).to.deep.equal([`${wan}:${CLIENT_PORT}`, `${wan}:${CLIENT_PORT}`])
  })

  it('symmetric: a new public port per destination (random-fully)', async () => {
    const seen = await send('s1')
    const wan = (lab as Lab).site('s').wanIp
    expect(seen.every(s => s.seen?.startsWith(`${wan}:`))).to.equal(true)
    expect(seen[0].seen).to.not.equal(seen[1].seen)
  })

  it('cone filtering: an unsolicited packet to the mapped port from a WAN host the site never sent to is dropped', async () => {
    const l = lab as Lab
    // c1 opens its mapping towards w1 only; w2 then aims at the mapped port from another port.
    await send('c1', CLIENT_PORT + 1, [targets()[0]])
    const answer = await send('w2', 6000, [`${l.site('c').wanIp}:${CLIENT_PORT + 1}`])
    expect(answer[0].seen).to.equal(null)
  })

  it('upnp: miniupnpd maps a port on request (NAT-PMP) and the WAN then reaches the host behind it', async () => {
    const l = lab as Lab
    const gw = l.site('u').lanCidr.replace(/0\/24$/, '1')
    const before = await send('w1', 6001, [`${l.site('u').wanIp}:${ECHO_PORT}`])
    expect(before[0].seen, 'no mapping yet').to.equal(null)
    const answer = JSON.parse(await l.exec('u1', [process.execPath, PROBE, 'natpmp', gw, String(ECHO_PORT)], { timeoutMs: 30_000 })) as { result: number | null, externalPort: number }
    expect(answer.result).to.equal(0)
    expect(await l.routerRules('u')).to.match(new RegExp(`dnat (ip )?to ${l.host('u1').ip.replace(/\./g, '\\.')}:${ECHO_PORT}`))
    const after = await send('w1', 6002, [`${l.site('u').wanIp}:${answer.externalPort}`])
    expect(after[0].seen).to.equal(`${l.host('w1').ip}:6002`)
  })

  it('faults: a cut uplink (link down, or an nft drop) stops traffic and the restore brings it back', async () => {
    const l = lab as Lab
    for (const how of ['link', 'drop'] as const) {
      await l.cutUplink('c', how)
      expect((await send('c1', CLIENT_PORT + 2)).map(s => s.seen), `cut by ${how}`).to.deep.equal([null, null])
      await l.restoreUplink('c', how)
      expect((await send('c1', CLIENT_PORT + 3)).every(s => s.seen != null), `restored after ${how}`).to.equal(true)
    }
  })

  it('faults: the loss rule is bounded (0-50 %) and drops only part of the traffic', async () => {
    const l = lab as Lab
    await l.setLoss('s', 50)
    // Half lost each way, one try per datagram: about a quarter of 100 come back; all or none by
    // chance is below 1 in 10^12.
    const r = JSON.parse(await l.exec('s1', [process.execPath, PROBE, 'count', '100', targets()[0]], { timeoutMs: 30_000 })) as { sent: number, answered: number }
    await l.setLoss('s', 0)
    expect(r.answered, 'some datagrams pass').to.be.greaterThan(0)
    expect(r.answered, 'some are lost').to.be.lessThan(r.sent)
    const clean = JSON.parse(await l.exec('s1', [process.execPath, PROBE, 'count', '20', targets()[0]], { timeoutMs: 30_000 })) as { sent: number, answered: number }
    expect(clean.answered, 'none lost once the rule is gone').to.equal(20)
    await expect(l.setLoss('s', 51)).to.be.rejectedWith(/0 to 50/)
  })

  it('destroy() removes every namespace, process and route it made, and a second call is harmless', async function () {
    this.timeout(60_000)
    const l = lab as Lab
    const pids = l.processes.map(p => p.pid)
    await l.destroy()
    await l.destroy()
    expect((await labNamespaces()).filter(n => n.startsWith(l.prefix))).to.deep.equal([])
    for (const pid of pids) { expect(() => process.kill(pid, 0), `pid ${pid}`).to.throw() }
    expect(await rootLabFootprint()).to.deep.equal([])
  })
})
