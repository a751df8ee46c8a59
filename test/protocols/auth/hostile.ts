import { quic } from '@chainsafe/libp2p-quic'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import { prefixLogger } from '@libp2p/logger'
import { ping } from '@libp2p/ping'
import { lpStream } from '@libp2p/utils'
import { createLibp2p } from 'libp2p'
import { AUTH_PROTOCOL, decodeFrame, encodeFrame, meshAuth } from '../../../protocols/auth/index.ts'
import { QUIC_LOOPBACK, now } from '../../node/fixtures.ts'
import type { AuthFrame, LocalCredentials, MeshAuth, MeshAuthInit } from '../../../protocols/auth/index.ts'
import type { PeerCertificateVerifier } from '../../../src/node/index.ts'
import type { Libp2p, PrivateKey, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * Hostile peers for the adversarial suites. Each is a real libp2p node on loopback QUIC; what
 * differs is what it does on the auth protocol: run our own auth code with bad material, or
 * speak the wire format by hand (replays, oversized frames, silence).
 */

export type HostileNode = Libp2p<{ auth?: MeshAuth }>

/** A hostile that runs our auth service with its own (bad) credentials; it trusts the mesh root (public). */
export async function hostileWithAuth (name: string, hostKey: PrivateKey | undefined, credentials: LocalCredentials, verifier: PeerCertificateVerifier, extra: Partial<MeshAuthInit> = {}): Promise<HostileNode> {
  return await createLibp2p({
    privateKey: hostKey ?? await generateKeyPair('Ed25519'),
    addresses: { listen: [QUIC_LOOPBACK] },
    transports: [quic()],
    logger: prefixLogger(name),
    services: {
      auth: meshAuth({ credentials, verifier, now, guardProtocols: false, ...extra }),
      identify: identify({ runOnConnectionOpen: false }),
      ping: ping()
    }
  }) as HostileNode
}

/** A hostile that speaks no auth by itself; tests drive the auth stream by hand. */
export async function rawHostile (name: string, hostKey?: PrivateKey): Promise<HostileNode> {
  return await createLibp2p({
    privateKey: hostKey ?? await generateKeyPair('Ed25519'),
    addresses: { listen: [QUIC_LOOPBACK] },
    transports: [quic()],
    logger: prefixLogger(name),
    services: { identify: identify({ runOnConnectionOpen: false }), ping: ping() }
  }) as HostileNode
}

/** Credentials with no chain at all and a throwaway key. */
export function noCertificate (): LocalCredentials {
  return { chain: [], signer: { algorithm: 'Ed25519', spki: new Uint8Array(0), sign: async () => new Uint8Array(64) } }
}

/** Opens the auth stream on a hostile's connection to `target` and returns raw frame I/O. */
export async function openRawAuth (hostile: HostileNode, target: Multiaddr): Promise<{ stream: Stream, send(f: AuthFrame): Promise<void>, sendBytes(b: Uint8Array): void, read(): Promise<AuthFrame> }> {
  const connection = await hostile.dial(target)
  const stream = await connection.newStream(AUTH_PROTOCOL)
  const lp = lpStream(stream, { maxDataLength: 1 << 20 })
  return {
    stream,
    send: async (f) => { await lp.write(encodeFrame(f)) },
    sendBytes: (b) => { stream.send(b) },
    read: async () => decodeFrame((await lp.read({ signal: AbortSignal.timeout(5_000) })).subarray())
  }
}
