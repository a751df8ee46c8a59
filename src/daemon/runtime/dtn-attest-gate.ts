import { AttestProtocolError } from '../../../protocols/attest/errors.ts'
import type { BundleNode } from '../../../protocols/bundle/bundle-service.ts'
import type { MeshNode } from '../../node/mesh-node.ts'

type PeerListener = (evt: CustomEvent<{ nodeId: string, peerId: string }>) => void

/**
 * The node as the bundle service sees it, with attestation membership applied (seed §6.3: only
 * attested members, where the policy enforces it, accept and re-forward). A peer that is not a
 * member (pending under an enforcing policy, or failed) is absent from the peer list the service
 * plans transfers over, so nothing is forwarded to it, and its bundle streams are reset before a
 * frame is read, so nothing is taken from it. A peer that passes is announced like a freshly
 * authenticated one, so its transfers start at once rather than at the next tick.
 */
export function attestGatedBundleNode (node: MeshNode, onRefused?: (peerId: string, code: 'NOT_ATTESTED') => void): BundleNode {
  const member = (peerId: string): boolean => node.attest.isMember(peerId)
  const wrapped = new Map<PeerListener, PeerListener>()
  return {
    handle: async (protocol, handler, options) => {
      await node.handle(protocol, async (stream, connection) => {
        const peerId = connection.remotePeer.toString()
        if (!member(peerId)) {
          onRefused?.(peerId, 'NOT_ATTESTED')
          stream.abort(new AttestProtocolError('NOT_ATTESTED', `${peerId} has not passed attestation: its bundles are refused`))
          return
        }
        await handler(stream, connection)
      }, options)
    },
    unhandle: async (protocol) => { await node.unhandle(protocol) },
    openStream: async (peerId, protocol, options) => {
      if (!member(peerId)) { throw new AttestProtocolError('NOT_ATTESTED', `${peerId} has not passed attestation: nothing is forwarded to it`) }
      return node.openStream(peerId, protocol, options)
    },
    auth: node.auth,
    peers: { list: () => node.peers.list().filter(p => member(p.peerId)) },
    addEventListener: (type, listener) => {
      const onAttested: PeerListener = (evt) => { listener(evt) }
      wrapped.set(listener, onAttested)
      node.addEventListener(type, listener as any)
      node.addEventListener('peer:attested', onAttested as any)
    },
    removeEventListener: (type, listener) => {
      node.removeEventListener(type, listener as any)
      const onAttested = wrapped.get(listener)
      if (onAttested != null) { node.removeEventListener('peer:attested', onAttested as any); wrapped.delete(listener) }
    }
  }
}
