import 'reflect-metadata'
import * as x509 from '@peculiar/x509'
import { NODE_URI_PREFIX, PEER_URI_PREFIX } from '../pki/node-identity.ts'
import { ADMIN_URI_PREFIX } from './csr-policy.ts'
import type { KeyHandle } from '../identity/key-store.ts'

/** What a CSR asks to be certified as: a node (node_id + PeerId), an admin, or a server. */
export interface CsrSubject {
  nodeId?: string
  peerId?: string
  adminName?: string
  dnsNames?: string[]
  ipAddresses?: string[]
}

/**
 * Builds a PKCS#10 request signed by `key` (in whichever backend holds it), with the SAN the
 * CA's profiles expect and CN set to the node_id / admin name / first DNS name. Returns DER.
 */
export async function createCsr (key: KeyHandle, subject: CsrSubject): Promise<Uint8Array> {
  const san: x509.JsonGeneralName[] = []
  if (subject.nodeId != null) { san.push({ type: 'url', value: NODE_URI_PREFIX + subject.nodeId }) }
  if (subject.peerId != null) { san.push({ type: 'url', value: PEER_URI_PREFIX + subject.peerId }) }
  if (subject.adminName != null) { san.push({ type: 'url', value: ADMIN_URI_PREFIX + subject.adminName }) }
  for (const d of subject.dnsNames ?? []) { san.push({ type: 'dns', value: d }) }
  for (const ip of subject.ipAddresses ?? []) { san.push({ type: 'ip', value: ip }) }
  const cn = subject.nodeId ?? subject.adminName ?? subject.dnsNames?.[0] ?? subject.ipAddresses?.[0]
  const signer = key.signer()
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    ...(cn != null ? { name: `CN=${cn}` } : {}),
    keys: { privateKey: signer.privateKey, publicKey: signer.publicKey },
    signingAlgorithm: signer.signingAlgorithm,
    extensions: san.length > 0 ? [new x509.SubjectAlternativeNameExtension(san, false)] : []
  }, signer.crypto)
  return new Uint8Array(csr.rawData)
}
