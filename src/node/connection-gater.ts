import type { BlockList } from './block-list.ts'
import type { PreauthLimiter } from '../../protocols/auth/index.ts'
import type { ConnectionGater, MultiaddrConnection, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * The node's connection gater: refuses blocked peers at every point libp2p knows their PeerId.
 * Outbound: before dialling (`denyDialPeer`, or a /p2p/ multiaddr) and after the TLS handshake
 * (a dial by bare address only learns the PeerId then). Inbound: right after the handshake, the
 * first point where QUIC and TCP+TLS both know who is calling.
 * No dial leaves while our own certificate is not valid (`ownCertificateValid`): it could only be
 * refused, and the refusal would back us off at the peer.
 */
export function meshConnectionGater (blockList: BlockList, preauth?: PreauthLimiter, ownCertificateValid: () => boolean = () => true): ConnectionGater {
  const blocked = (peerId: PeerId): boolean => blockList.isBlocked(peerId.toString())
  const denyDial = (peerId: PeerId): boolean => !ownCertificateValid() || blocked(peerId)
  return {
    // Before the upgrade, by source address alone: a source backed off after repeated failed
    // auths, or holding its share of connections waiting for auth (the PeerId is free to change).
    denyInboundConnection: (maConn: MultiaddrConnection) => preauth?.gate(maConn.remoteAddr.toString()) != null,
    denyDialPeer: denyDial,
    denyDialMultiaddr: (multiaddr: Multiaddr) => {
      if (!ownCertificateValid()) { return true }
      const p2p = multiaddr.getComponents().findLast(c => c.name === 'p2p')?.value
      return p2p != null && blockList.isBlocked(p2p)
    },
    denyOutboundConnection: denyDial,
    denyOutboundEncryptedConnection: blocked,
    denyInboundEncryptedConnection: blocked,
    denyOutboundUpgradedConnection: blocked,
    denyInboundUpgradedConnection: blocked
  }
}
