import { isIP } from 'node:net'
import { peerIdFromString } from '@libp2p/peer-id'
import { isValidNodeId, isValidPeerIdText, NODE_URI_PREFIX, PEER_URI_PREFIX } from '../pki/node-identity.ts'
import { CsrRejectedError } from './errors.ts'
import type { CertificationRequest } from './csr.ts'

/** SAN URI prefix of an operator (admin) certificate. */
export const ADMIN_URI_PREFIX = 'urn:dadm:admin:'

/**
 * [REJECT] a CSR that asks for CA powers: basicConstraints cA=TRUE, or keyUsage keyCertSign or
 * cRLSign. The CA never copies requested extensions, so this is about refusing a requester who
 * believes it can get them, loudly, rather than issuing something other than what was asked.
 */
export function refuseCaPowers (csr: CertificationRequest): void {
  if (csr.basicConstraints?.ca === true) {
    throw new CsrRejectedError('CA_REQUESTED', 'the CSR asks for basicConstraints cA=TRUE')
  }
  if (csr.keyUsage?.has('keyCertSign') === true || csr.keyUsage?.has('cRLSign') === true) {
    throw new CsrRejectedError('CERT_SIGN_REQUESTED', 'the CSR asks for keyCertSign or cRLSign')
  }
}

/** True for canonical base58btc PeerId text that libp2p parses back to the same string. */
export function isCanonicalPeerId (text: string): boolean {
  if (!isValidPeerIdText(text)) { return false }
  try {
    return peerIdFromString(text).toString() === text
  } catch {
    return false
  }
}

/**
 * Node profile: the CSR's SAN must be exactly `urn:dadm:node:<node_id>` and
 * `urn:libp2p:peer:<peerId>`, nothing else. The PeerId is required for every mesh node (the auth
 * protocol checks it against the TLS peer); CLI users without one get it derived from an Ed25519
 * key by `dadm-mesh csr`. The CA cannot check that the requester holds the PeerId's private key;
 * enrollment binds that with its token and attestation.
 */
export function checkNodeCsr (csr: CertificationRequest, expectedNodeId?: string): { nodeId: string, peerId: string } {
  refuseCaPowers(csr)
  const san = csr.subjectAltName
  if (san == null) { throw new CsrRejectedError('MISSING_NODE_SAN', 'the CSR has no subjectAltName') }
  if (san.dns.length + san.email.length + san.ip.length + san.directory.length + san.other.length > 0) {
    throw new CsrRejectedError('EXTRA_SAN', 'a node CSR may carry only its node and peer URIs')
  }
  const nodes = san.uri.filter(u => u.startsWith(NODE_URI_PREFIX))
  const peers = san.uri.filter(u => u.startsWith(PEER_URI_PREFIX))
  if (nodes.length + peers.length !== san.uri.length || nodes.length > 1 || peers.length > 1) {
    throw new CsrRejectedError('EXTRA_SAN', 'a node CSR carries exactly one node URI and one peer URI')
  }
  if (nodes.length === 0) { throw new CsrRejectedError('MISSING_NODE_SAN', `no ${NODE_URI_PREFIX} URI`) }
  if (peers.length === 0) { throw new CsrRejectedError('MISSING_PEER_SAN', `no ${PEER_URI_PREFIX} URI`) }
  const nodeId = nodes[0].slice(NODE_URI_PREFIX.length)
  const peerId = peers[0].slice(PEER_URI_PREFIX.length)
  if (!isValidNodeId(nodeId)) { throw new CsrRejectedError('INVALID_NODE_ID', 'node_id has invalid syntax') }
  if (!isCanonicalPeerId(peerId)) { throw new CsrRejectedError('INVALID_PEER_ID', 'peer id is not a canonical libp2p PeerId') }
  if (expectedNodeId != null && expectedNodeId !== nodeId) {
    throw new CsrRejectedError('NODE_ID_MISMATCH', 'the CSR names another node_id than the one required')
  }
  return { nodeId, peerId }
}

/** Admin profile: the SAN is exactly one `urn:dadm:admin:<name>` URI. */
export function checkAdminCsr (csr: CertificationRequest, expectedName?: string): { name: string } {
  refuseCaPowers(csr)
  const san = csr.subjectAltName
  if (san == null || san.uri.length === 0) { throw new CsrRejectedError('MISSING_ADMIN_SAN', `no ${ADMIN_URI_PREFIX} URI`) }
  if (san.uri.length !== 1 || san.dns.length + san.email.length + san.ip.length + san.directory.length + san.other.length > 0 ||
    !san.uri[0].startsWith(ADMIN_URI_PREFIX)) {
    throw new CsrRejectedError('EXTRA_SAN', 'an admin CSR carries exactly one admin URI')
  }
  const name = san.uri[0].slice(ADMIN_URI_PREFIX.length)
  if (!isValidNodeId(name)) { throw new CsrRejectedError('INVALID_NAME', 'admin name has invalid syntax') }
  if (expectedName != null && expectedName !== name) {
    throw new CsrRejectedError('NODE_ID_MISMATCH', 'the CSR names another admin than the one required')
  }
  return { name }
}

const DNS_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/

/** True for a lowercase LDH host name (no wildcards: the CA's service has fixed names). */
export function isDnsName (s: string): boolean {
  return DNS_NAME.test(s)
}

/**
 * Server profile (the CA's own HTTPS service): names come from the operator (`dnsNames`,
 * `ipAddresses`); a CSR may repeat some of them but may add none.
 */
export function checkServerCsr (csr: CertificationRequest, dnsNames: string[], ipAddresses: string[]): void {
  refuseCaPowers(csr)
  const san = csr.subjectAltName
  if (san == null) { return }
  const ips = new Set(ipAddresses.map(normalizeIp))
  if (san.uri.length + san.email.length + san.directory.length + san.other.length > 0 ||
    san.dns.some(d => !dnsNames.includes(d.toLowerCase())) || san.ip.some(ip => !ips.has(normalizeIp(ip)))) {
    throw new CsrRejectedError('EXTRA_SAN', 'the CSR asks for names the operator did not grant')
  }
}

/** IPv4 dotted or IPv6 eight full groups, lowercase, so the CSR's form and ours compare equal. */
export function normalizeIp (ip: string): string {
  if (isIP(ip) === 4) { return ip }
  const halves = ip.toLowerCase().split('::')
  const head = halves[0] === '' ? [] : halves[0].split(':')
  const tail = halves.length > 1 && halves[1] !== '' ? halves[1].split(':') : []
  const fill = halves.length > 1 ? Array(8 - head.length - tail.length).fill('0') : []
  return [...head, ...fill, ...tail].map(g => parseInt(g, 16).toString(16)).join(':')
}
