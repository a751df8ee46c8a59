import { readFile, writeFile } from 'node:fs/promises'
import { signAnomalyOffline } from '../../../protocols/anomaly-gossip/sign-anomaly.ts'
import { openNodeCredentials } from '../../daemon/runtime/node-credentials.ts'
import { requirePassphrase } from '../../identity/passphrase.ts'
import { loadKeyFile } from '../../identity/software-key-store.ts'
import { originChain } from '../../node/origin-chain.ts'
import { pemToDerAll } from '../../util/pem.ts'
import { EXIT, nowOf, parseCommand, reportError, required, UsageError } from '../io.ts'
import { GOSSIP_SIGN } from '../specs/gossip-sign.ts'
import { parseMeta, parseTtl } from './gossip.ts'
import type { IdentitySigner } from '../../pki/peer-verifier.ts'
import type { CliIo } from '../io.ts'

/**
 * `gossip sign`: an anomaly signature signed offline by a member, written as an envelope file
 * that any member node forwards unchanged (`gossip publish --signed`). The identity key is a
 * node directory's (in its key store: file, PKCS#11, TPM) or a key file's.
 */
export async function gossipSign (args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommand(args, GOSSIP_SIGN)
  const out = required(values.out, '--out')
  const payload = {
    type: required(values.type, '--type'),
    value: required(values.value, '--value'),
    ...((values.meta ?? []).length > 0 ? { meta: parseMeta(values.meta ?? []) } : {})
  }
  const ttlMs = values.ttl != null ? parseTtl(values.ttl) * 1000 : undefined
  if ((values.dir == null) === (values.key == null)) { throw new UsageError('give either --dir NODEDIR or --key KEY with --cert CHAIN.pem') }
  if (values.key != null && values.cert == null) { throw new UsageError('--key needs --cert CHAIN.pem (the certificate of that key, then its CAs)') }
  try {
    const passphrase = await requirePassphrase({ env: io.env, passphraseFile: values['passphrase-file'] })
    const { chain, signer, close } = values.dir != null
      ? await fromNodeDir(values.dir, passphrase, io)
      : await fromKeyFile(values.key as string, values.cert as string, passphrase)
    let signed
    try {
      signed = await signAnomalyOffline(nowOf(io).getTime(), payload, { chain: originChain(chain), signer, ...(ttlMs != null ? { ttlMs } : {}) })
    } finally {
      await close()
    }
    await writeFile(out, signed.bytes, { mode: 0o644 })
    const e = signed.envelope
    io.stdout.write(values.json === true
      ? JSON.stringify({ message_id: e.message_id, origin: e.origin, timestamp: new Date(e.timestamp).toISOString(), expiry: new Date(e.expiry).toISOString(), file: out, envelope: Buffer.from(signed.bytes).toString('base64') }, null, 2) + '\n'
      : `${e.message_id}\n`)
    if (values.json !== true) { io.stderr.write(`signed by ${e.origin}: expires ${new Date(e.expiry).toISOString()}, written to ${out}\n`) }
    return EXIT.OK
  } catch (err) {
    return reportError(io, err)
  }
}

interface SigningKey { chain: Uint8Array[], signer: IdentitySigner, close(): Promise<void> }

async function fromNodeDir (dir: string, passphrase: string, io: CliIo): Promise<SigningKey> {
  const creds = await openNodeCredentials(dir, passphrase, { env: io.env })
  const key = creds.identity
  return { chain: creds.chain, signer: { algorithm: key.algorithm, spki: key.publicKeySpki, sign: async (d) => key.sign(d) }, close: async () => { await creds.closeIdentity() } }
}

async function fromKeyFile (keyPath: string, certPath: string, passphrase: string): Promise<SigningKey> {
  const key = await loadKeyFile(keyPath, passphrase)
  const chain = pemToDerAll(await readFile(certPath), 'CERTIFICATE')
  if (chain.length === 0) { throw new UsageError(`--cert ${certPath} holds no certificate`) }
  return { chain, signer: { algorithm: key.algorithm, spki: key.publicKeySpki, sign: async (d) => key.sign(d) }, close: async () => {} }
}
