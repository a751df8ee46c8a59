import { isValidNodeId } from '../../pki/node-identity.ts'
import { isValidRole, MAX_ROLES, ROLE_PATTERN } from '../../pki/roles-extension.ts'
import { MAX_TOKEN_USES } from '../../store/token-store.ts'
import { EXIT, nowOf, parseCommand, parseDuration, reportError, required, UsageError } from '../io.ts'
import { CA_TOKEN } from '../specs/ca-token.ts'
import { withAdminOps } from './ca-admin.ts'
import type { CliIo } from '../io.ts'

/**
 * `ca token`: creates a one-time enrollment token (256 random bits) and prints it once on stdout;
 * the CA keeps only its SHA-256. Works while `ca serve` runs (through its admin socket).
 * `--replace` mints a replacement for `--node-id`: its enrollment revokes the node_id's live
 * certificates (reason superseded) instead of being refused NODE_ID_TAKEN. `--role` (repeatable)
 * names the roles the CA puts into the enrolled node's certificate.
 */
export async function caToken (args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommand(args, CA_TOKEN)
  const dir = required(values.dir, '--dir')
  const nodeId = values['node-id']
  if (nodeId != null && !isValidNodeId(nodeId)) { throw new UsageError('--node-id must be 1-64 characters of [A-Za-z0-9._-], not starting with "."') }
  const replace = values.replace === true
  if (replace && nodeId == null) { throw new UsageError('--replace needs --node-id: a replacement token names the node_id it replaces') }
  const roles = [...new Set(values.role ?? [])].sort()
  const badRole = roles.find(r => !isValidRole(r))
  if (badRole != null) { throw new UsageError(`--role ${JSON.stringify(badRole)} is not a role name: it must match ${ROLE_PATTERN}`) }
  if (roles.length > MAX_ROLES) { throw new UsageError(`--role: at most ${MAX_ROLES} roles`) }
  const ttlSeconds = parseDuration(values.ttl ?? '1h')
  if (ttlSeconds <= 0) { throw new UsageError('--ttl must be positive') }
  const uses = Number(values.uses)
  if (!Number.isSafeInteger(uses) || uses < 1 || uses > MAX_TOKEN_USES) { throw new UsageError(`--uses must be 1..${MAX_TOKEN_USES}`) }
  try {
    return await withAdminOps(dir, values['passphrase-file'], io, async (ops, via) => {
      const t = await ops.createToken({ ttlMs: ttlSeconds * 1000, uses, ...(nodeId != null ? { nodeId } : {}), ...(replace ? { replace } : {}), ...(roles.length > 0 ? { roles } : {}) }, nowOf(io))
      const expires = new Date(t.expiresAt).toISOString()
      if (values.json === true) {
        io.stdout.write(JSON.stringify({ token: t.token, token_id: t.tokenId, node_id: t.nodeId ?? null, uses: t.uses, expires_at: expires, replace: t.replace === true, roles: t.roles }) + '\n')
      } else {
        io.stdout.write(t.token + '\n')
        io.stderr.write(`token ${t.tokenId}: ${t.uses} use(s), ${t.nodeId != null ? `bound to node_id ${t.nodeId}, ` : ''}${t.replace === true ? 'replaces its current holder (whose certificates it revokes), ' : ''}${t.roles.length > 0 ? `roles ${t.roles.join(', ')}, ` : ''}expires ${expires}` +
          `${via === 'service' ? ' (created by the running service)' : ''}; it is shown only now\n`)
      }
      return EXIT.OK
    })
  } catch (err) {
    return reportError(io, err)
  }
}
