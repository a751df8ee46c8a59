import { ChainValidationError } from '../../pki/chain-errors.ts'
import { nodeIdentity } from '../../pki/node-identity.ts'
import { verifyChain } from '../../pki/verify-chain.ts'
import { EKU } from '../../pki/x509-extensions.ts'
import { EXIT, nowOf, parseCommand, reportError, required, UsageError } from '../io.ts'
import { CERT_VERIFY } from '../specs/cert-verify.ts'
import { readPemFile } from './read-pem.ts'
import type { CliIo } from '../io.ts'

const PROFILE_EKU: Record<string, string[]> = {
  node: [EKU.CLIENT_AUTH, EKU.SERVER_AUTH],
  admin: [EKU.CLIENT_AUTH],
  server: [EKU.SERVER_AUTH]
}

/**
 * `cert verify`: validates CERT.pem against the roots at `--at` (default now). Exit 0 when valid;
 * otherwise exit 1 with the bounded error code (e.g. `REVOKED`, `EXPIRED`) first on stderr.
 */
export async function certVerify (args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommand(args, CERT_VERIFY)
  if (values.ca == null || values.ca.length === 0) { throw new UsageError('--ca is required') }
  if (positionals.length !== 1) { throw new UsageError('give exactly one CERT.pem') }
  const certPath = required(positionals[0], 'CERT.pem')
  const eku = PROFILE_EKU[values.profile ?? 'node']
  if (eku == null) { throw new UsageError('--profile must be node, admin or server') }
  let at = nowOf(io)
  if (values.at != null) {
    at = new Date(values.at)
    if (Number.isNaN(at.getTime())) { throw new UsageError('--at must be an ISO 8601 time') }
  }
  try {
    const leaf = await readPemFile(certPath, 'CERTIFICATE')
    if (leaf.length !== 1) { throw new UsageError(`${certPath} must hold exactly one certificate`) }
    const roots = (await Promise.all(values.ca.map(async f => readPemFile(f, 'CERTIFICATE')))).flat()
    const intermediates = (await Promise.all((values.intermediate ?? []).map(async f => readPemFile(f, 'CERTIFICATE')))).flat()
    const crls = (await Promise.all((values.crl ?? []).map(async f => readPemFile(f, 'X509 CRL')))).flat()
    const { path } = verifyChain(at, leaf[0], intermediates, roots, crls, {
      requiredEku: eku,
      requireRevocationInfo: values['require-crl'] === true,
      ...(values['node-id'] != null ? { expectedNodeId: values['node-id'] } : {}),
      ...(values['peer-id'] != null ? { expectedPeerId: values['peer-id'] } : {})
    })
    const who = values.profile === 'node' ? describeNode(path[0]) : path[0].subject.text
    if (values.json) {
      io.stdout.write(JSON.stringify({ valid: true, subject: path[0].subject.text, serial: path[0].serialHex, path: path.map(c => c.subject.text) }, null, 2) + '\n')
      return EXIT.OK
    }
    io.stdout.write(`OK: ${who}, serial ${path[0].serialHex}, ${path.length - 1} link(s) to ${path[path.length - 1].subject.text}\n`)
    return EXIT.OK
  } catch (err) {
    if (err instanceof ChainValidationError) {
      if (values.json) { io.stdout.write(JSON.stringify({ valid: false, code: err.code, depth: err.depth ?? null, message: err.message }, null, 2) + '\n') }
      io.stderr.write(`${err.code}${err.depth != null ? ` (depth ${err.depth})` : ''}: ${err.message}\n`)
      return EXIT.FAIL
    }
    return reportError(io, err)
  }
}

function describeNode (cert: Parameters<typeof nodeIdentity>[0] & { subject: { text: string } }): string {
  try {
    const id = nodeIdentity(cert)
    return `node_id ${id.nodeId}${id.peerId != null ? `, peer ${id.peerId}` : ''}`
  } catch {
    return cert.subject.text
  }
}
