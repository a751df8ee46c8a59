import { expect } from 'aegir/chai'
import { nodeApiGet, nodeApiPost } from '../../../src/daemon/api/client.ts'
import { startNodeRuntime } from '../../../src/daemon/runtime/node-runtime.ts'
import { ENTRY_OVERHEAD_BYTES } from '../../../src/dtn/store/bundle-store.ts'
import { issueSessionCredential } from '../../../src/pki/session-cert.ts'
import { PASS, createTestMesh, runCli } from '../runtime/harness.ts'
import type { NodeApiClientOptions } from '../../../src/daemon/api/client.ts'
import type { NodeRuntime } from '../../../src/daemon/runtime/node-runtime.ts'
import type { TestMesh } from '../runtime/harness.ts'

/**
 * `POST /v1/bundles`, `GET /v1/bundles` and `GET /v1/bundles/{id}` on a running node (the
 * runtime `node start` runs, its admin API over mutual TLS), and the `bundle send` / `bundle
 * list` commands against it. Refusals come from the API's catalogue, by code.
 */
describe('api / bundles: POST and GET /v1/bundles, bundle send and list', function () {
  let mesh: TestMesh
  let node: NodeRuntime
  let client: NodeApiClientOptions
  /** Room for about three small bundles, so the quota can be met. */
  const QUOTA = 3 * (ENTRY_OVERHEAD_BYTES + 4000)

  before(async () => {
    mesh = await createTestMesh('bundles-api')
    node = await startNodeRuntime({
      dir: await mesh.enroll('api-node'),
      passphrase: PASS,
      crl: false,
      dtn: { quotaBytes: QUOTA },
      options: { listen: ['/ip4/127.0.0.1/udp/0/quic-v1'], transports: { quic: true, tcp: false }, mdns: { enabled: false } }
    })
    const credential = await issueSessionCredential({ signer: node.dir.identity.signer(), nodeChain: node.dir.chain, now: new Date(), validityMs: 600_000 })
    client = { url: node.apiUrl as string, credential, expectedPeerId: node.dir.peerId, roots: node.dir.roots, intermediates: node.dir.intermediates }
  })
  after(async () => {
    await node.stop()
    await mesh.cleanup()
  })

  const refusal = async (p: Promise<unknown>): Promise<{ status?: number, serverCode?: string }> => p.then(() => { throw new Error('expected a refusal') }, (err) => err)

  it('POST answers 201 { bundle_id, expires_at } once stored; GET lists it as held for forwarding', async () => {
    const t0 = Date.now()
    const r = await nodeApiPost('/v1/bundles', { destination: 'far-away', ttl_sec: 120, payload: Buffer.from('hello').toString('base64') }, client) as { bundle_id: string, expires_at: string }
    expect(r.bundle_id).to.match(/^api-node:\d+:\d+$/)
    expect(Date.parse(r.expires_at) - t0).to.be.within(119_000, 121_000)
    // on disk already: the store the runtime holds lists it
    expect((await node.bundles.store.listOutbound()).map(m => m.destination)).to.include('far-away')
    const l = await nodeApiGet('/v1/bundles', client) as any
    expect(l.held.find((h: any) => h.bundle_id === r.bundle_id)).to.include({ destination: 'far-away', source: 'api-node', length: 5, copies: 8 })
    expect(l.inbox).to.deep.equal([])
  })

  it('a bundle to this node itself lands in its inbox; GET /v1/bundles/{id} returns its payload', async () => {
    const r = await nodeApiPost('/v1/bundles', { destination: 'api-node', ttl_sec: 60, payload: Buffer.from('to myself').toString('base64') }, client) as { bundle_id: string }
    const one = await nodeApiGet(`/v1/bundles/${r.bundle_id}`, client) as any
    expect(one).to.include({ bundle_id: r.bundle_id, source: 'api-node', size: 9 })
    expect(Buffer.from(one.payload, 'base64').toString()).to.equal('to myself')
    expect((await refusal(nodeApiGet('/v1/bundles/api-node:1:1', client))).serverCode).to.equal('NOT_FOUND')
    // an id with LevelDB separator bytes is simply not found, never a key
    expect((await refusal(nodeApiGet(`/v1/bundles/${encodeURIComponent('api-node!\u0000:1:1')}`, client))).serverCode).to.equal('NOT_FOUND')
  })

  it('refuses bad input with INVALID_REQUEST: not base64, a bad destination, a TTL out of range, extra fields', async () => {
    const ok = { destination: 'x1', ttl_sec: 60, payload: 'aGk=' }
    for (const body of [
      { ...ok, payload: 'aGk' }, // unpadded
      { ...ok, payload: 'a-_k' }, // URL alphabet
      { ...ok, payload: 'aG k' }, // whitespace
      { ...ok, destination: 'not a node id!' },
      { ...ok, destination: '' },
      { ...ok, ttl_sec: 0 },
      { ...ok, ttl_sec: 1.5 },
      { ...ok, extra: 1 },
      { destination: 'x1', payload: 'aGk=' }
    ]) {
      const err = await refusal(nodeApiPost('/v1/bundles', body, client)).catch(e => { throw new Error(`${JSON.stringify(body)}: ${String(e.message)}`) })
      expect(err, JSON.stringify(body)).to.include({ status: 400, serverCode: 'INVALID_REQUEST' })
    }
  })

  it('over the quota: 507 STORE_FULL, and nothing of the refused bundle is kept', async () => {
    const before = node.bundles.store.usage
    const err = await refusal(nodeApiPost('/v1/bundles', { destination: 'x2', ttl_sec: 60, payload: Buffer.alloc(QUOTA).toString('base64') }, client))
    expect(err).to.include({ status: 507, serverCode: 'STORE_FULL' })
    expect(node.bundles.store.usage).to.deep.equal(before)
  })

  it('`bundle send` prints the bundle_id; `bundle list --json` shows it; usage errors exit 2', async () => {
    const dir = node.dir.dir
    // the in-process runtime wrote no run.json for the CLI to find: write one that points at it
    const { writeRunFile } = await import('../../../src/daemon/runtime/run-file.ts')
    await writeRunFile(dir, { version: 1, pid: process.pid, node_id: 'api-node', peer_id: node.dir.peerId, api_url: node.apiUrl as string, multiaddrs: [], started_at: new Date().toISOString() })
    const sent = await runCli(['bundle', 'send', '--dir', dir, '--to', 'x3', '--ttl', '90', '--data', 'via the cli'])
    expect(sent.code, sent.stderr).to.equal(0)
    const id = sent.stdout.trim()
    expect(id).to.match(/^api-node:\d+:\d+$/)
    const list = await runCli(['bundle', 'list', '--dir', dir, '--json'])
    expect(JSON.parse(list.stdout).held.map((h: any) => h.bundle_id)).to.include(id)
    const table = await runCli(['bundle', 'list', '--dir', dir])
    expect(table.stdout).to.include('held for forwarding').and.include(id)
    expect((await runCli(['bundle', 'send', '--dir', dir, '--to', 'x3', '--ttl', '90'])).code).to.equal(2)
    expect((await runCli(['bundle', 'send', '--dir', dir, '--to', 'x3', '--ttl', '90', '--data', 'a', '--file', 'b'])).code).to.equal(2)
  })
})
