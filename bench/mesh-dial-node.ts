import { quic } from '@chainsafe/libp2p-quic'
import { yamux } from '@chainsafe/libp2p-yamux'
import { tcp } from '@libp2p/tcp'
import { tls } from '@libp2p/tls'
import { createLibp2p } from 'libp2p'
import { hostKeyFromPkcs8 } from '../src/identity/host-key.ts'
import { softwareKeyFromPkcs8 } from '../src/identity/software-key.ts'
import { createMeshNode, peerVerifierFromChainVerifier } from '../src/node/index.ts'
import { ChainVerifier } from '../src/pki/chain-verifier.ts'
import type { MeshNode } from '../src/node/index.ts'
import type { Libp2p } from '@libp2p/interface'

/**
 * One end of the dial benchmark: a raw libp2p node and a mesh node on the same transport. Used
 * in-process by mesh-dial.ts, and run as a child process (this file as a script) so that the
 * listening end has its own event loop, as it would on another machine.
 */
export type Transport = 'quic' | 'tcp'

/** What a node needs, in a JSON-safe form (hex strings) so it can cross a process boundary. */
export interface NodeMaterial {
  transport: Transport
  hostKeyPkcs8: string
  identityPkcs8: string
  chain: string[]
  root: string
}

export interface DialPair {
  raw: Libp2p
  mesh: MeshNode
  stop(): Promise<void>
}

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'))

/** Starts the raw node and the mesh node of `m` on loopback. */
export async function startPair (m: NodeMaterial): Promise<DialPair> {
  const listen = [m.transport === 'quic' ? '/ip4/127.0.0.1/udp/0/quic-v1' : '/ip4/127.0.0.1/tcp/0']
  const raw = await createLibp2p({
    addresses: { listen },
    transports: [m.transport === 'quic' ? quic() : tcp()],
    connectionEncrypters: m.transport === 'tcp' ? [tls()] : [],
    streamMuxers: m.transport === 'tcp' ? [yamux()] : [],
    connectionManager: { inboundConnectionThreshold: 1_000 }
  })
  const identity = await softwareKeyFromPkcs8('bench', 'P-256', hex(m.identityPkcs8), false)
  const mesh = await createMeshNode({
    privateKey: await hostKeyFromPkcs8(hex(m.hostKeyPkcs8)),
    credentials: { chain: m.chain.map(hex), signer: { algorithm: 'P-256', spki: identity.publicKeySpki, sign: async (d) => identity.sign(d) } },
    verifier: peerVerifierFromChainVerifier(new ChainVerifier({ roots: [hex(m.root)] })),
    options: {
      listen,
      transports: { quic: m.transport === 'quic', tcp: m.transport === 'tcp' },
      mdns: { enabled: false },
      dht: { enabled: false },
      discovery: { dialDiscovered: false },
      connectionManager: { inboundConnectionThreshold: 1_000 },
      // Dial cost only: the raw node has no gossipsub either.
      gossip: { enabled: false }
    }
  })
  return { raw, mesh, stop: async () => { await Promise.all([raw.stop(), mesh.stop()]) } }
}

// As a child process: read material from stdin, print both listen addresses, stop when stdin closes.
if (process.argv[1]?.endsWith('mesh-dial-node.ts') || process.argv[1]?.endsWith('mesh-dial-node.js')) {
  let input = ''
  process.stdin.setEncoding('utf8')
  process.stdin.on('data', (chunk) => { input += chunk })
  const waitForLine = async (): Promise<void> => {
    // bounded: the parent writes one line at once; give up after 10 s
    for (let i = 0; i < 2_000 && !input.includes('\n'); i++) { await new Promise(resolve => setTimeout(resolve, 5)) }
    if (!input.includes('\n')) { process.exit(2) }
  }
  await waitForLine()
  const pair = await startPair(JSON.parse(input.slice(0, input.indexOf('\n'))))
  // the parent ends our stdin only after it has read our addresses
  process.stdin.once('end', () => { void pair.stop().then(() => process.exit(0)) })
  process.stdout.write(JSON.stringify({ raw: pair.raw.getMultiaddrs()[0].toString(), mesh: pair.mesh.getMultiaddrs()[0].toString() }) + '\n')
}
