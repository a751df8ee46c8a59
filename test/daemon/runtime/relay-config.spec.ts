import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { nodeApiGet } from '../../../src/daemon/api/client.ts'
import { openNodeCredentials } from '../../../src/daemon/runtime/node-credentials.ts'
import { startNodeRuntime } from '../../../src/daemon/runtime/node-runtime.ts'
import { relayFromNodeFile, withNodeFileRelay } from '../../../src/daemon/runtime/relay-config.ts'
import { relayStatus } from '../../../src/node/index.ts'
import { issueSessionCredential } from '../../../src/pki/session-cert.ts'
import { PASS, createTestMesh, runCli } from './harness.ts'
import type { TestMesh } from './harness.ts'
import type { NodeRuntime } from '../../../src/daemon/runtime/node-runtime.ts'
import type { MeshNodeConfig } from '../../../src/node/config.ts'

/**
 * Circuit relay settings of an enrolled node: node.json's `relay` block, the `node start` /
 * `bootstrap-server` flags over it, and the refusals (a bad node.json block, a bad flag) before
 * anything opens. The relay itself between nodes is test/node/relay.spec.ts.
 */
describe('circuit relay settings: node.json "relay" and --circuit-relay flags', function () {
  describe('node.json relay block', () => {
    it('maps snake_case keys onto the relay options; flags win over node.json', () => {
      expect(relayFromNodeFile({ server: 'on', reservations: 3, data_limit_bytes: 1024, duration_limit_ms: 0 }))
        .to.deep.equal({ server: 'on', reservations: 3, dataLimitBytes: 1024, durationLimitMs: 0 })
      expect(relayFromNodeFile(undefined)).to.deep.equal({})
      const merged = withNodeFileRelay({ relay: { server: 'on', reservations: 3 } }, { relay: { reservations: 1 } })
      expect(merged.relay).to.deep.equal({ server: 'on', reservations: 1 })
    })

    it('an unknown key or a wrong type is NODE_DIR_INVALID naming the key', () => {
      const cases: Array<[unknown, RegExp]> = [
        [{ sever: 'on' }, /relay\.sever/],
        [{ server: 'yes' }, /relay\.server/],
        [{ reservations: '2' }, /relay\.reservations/],
        [{ enabled: 1 }, /relay\.enabled/],
        [['on'], /"relay" must be an object/],
        ['on', /"relay" must be an object/]
      ]
      for (const [value, message] of cases) {
        expect(() => relayFromNodeFile(value), String(message)).to.throw(message).with.property('code', 'NODE_DIR_INVALID')
      }
    })
  })

  describe('an enrolled node', () => {
    let mesh: TestMesh
    const runtimes: NodeRuntime[] = []

    before(async () => { mesh = await createTestMesh('relay-config') })
    after(async () => {
      await Promise.all(runtimes.splice(0).map(async r => r.stop()))
      await mesh.cleanup()
    })

    async function start (dir: string, options: MeshNodeConfig = {}, api: { host: string, port: number } | false = false): Promise<NodeRuntime> {
      const r = await startNodeRuntime({ dir, passphrase: PASS, api, runFile: false, crl: false, options: { mdns: { enabled: false }, listen: ['/ip4/127.0.0.1/udp/0/quic-v1'], transports: { quic: true, tcp: false }, ...options } })
      runtimes.push(r)
      return r
    }

    async function nodeJson (dir: string): Promise<any> {
      return JSON.parse(await readFile(join(dir, 'node.json'), 'utf8'))
    }

    it('node.json "relay": {"server": "on"} makes the node serve relay; GET /v1/node says so', async () => {
      const dir = await mesh.enroll('relay-cfg-1')
      await writeFile(join(dir, 'node.json'), JSON.stringify({ ...(await nodeJson(dir)), relay: { server: 'on', reservations: 0, max_reservations: 5 } }))
      const r = await start(dir, {}, { host: '127.0.0.1', port: 0 })
      expect(relayStatus(r.node).serving).to.equal(true)
      expect(r.node.options.relay).to.include({ server: 'on', reservations: 0, maxReservations: 5 })
      const creds = await openNodeCredentials(dir, PASS)
      const credential = await issueSessionCredential({ signer: creds.identity.signer(), nodeChain: creds.chain, now: new Date(), validityMs: 60_000 })
      await creds.closeIdentity()
      const info = await nodeApiGet('/v1/node', { url: r.apiUrl as string, credential, expectedPeerId: creds.file.peer_id, roots: creds.roots, intermediates: creds.intermediates }) as any
      expect(info.relay).to.deep.equal({ serving: true, reservations_granted: 0, relayed_bytes: 0, relays: [], relayed_addrs: [], refused: { reservation: 0, connect: 0, inbound: 0 } })
      await r.stop()
      runtimes.splice(runtimes.indexOf(r), 1)
    })

    it('a bad node.json relay block refuses the start with NODE_DIR_INVALID, and nothing is opened', async () => {
      const dir = await mesh.enroll('relay-cfg-2')
      await writeFile(join(dir, 'node.json'), JSON.stringify({ ...(await nodeJson(dir)), relay: { server: 'always' } }))
      let err: any
      try { await start(dir) } catch (e) { err = e }
      expect(err?.code).to.equal('NODE_DIR_INVALID')
      expect(err?.message).to.match(/relay\.server/)
      await expect(stat(join(dir, 'run.json'))).to.be.rejected()
    })

    it('a bad --circuit-relay or --circuit-relay-slots is a usage error naming the flag, before anything opens', async () => {
      const dir = await mesh.enroll('relay-cfg-3')
      const mode = await runCli(['node', 'start', '--dir', dir, '--circuit-relay', 'sometimes'])
      expect(mode.code).to.equal(2)
      expect(mode.stderr).to.match(/--circuit-relay must be auto, on or off/)
      const slots = await runCli(['bootstrap-server', '--dir', dir, '--circuit-relay-slots', 'two'])
      expect(slots.code).to.equal(2)
      expect(slots.stderr).to.match(/--circuit-relay-slots/)
      expect(mode.stderr + slots.stderr).to.not.match(/\n\s+at /)
      await expect(stat(join(dir, 'run.json'))).to.be.rejected()
      await expect(stat(join(dir, 'db'))).to.be.rejected()
    })
  })
})
