import { KeyStoreError } from '../identity/errors.ts'
import { parseCertificate } from '../pki/certificate.ts'
import { caExtensions, keyIdentifier, signCertificate } from '../pki/x509-build.ts'
import { CaStore } from '../store/ca-store.ts'
import { openStore } from '../store/mesh-store.ts'
import { writeFileExclusive } from '../util/atomic-file.ts'
import { ensurePrivateDir, PRIVATE_FILE_MODE } from '../util/file-mode.ts'
import { pathExists } from '../util/path-exists.ts'
import { derToPem } from '../util/pem.ts'
import { caPaths, ISSUING_KEY_LABEL, ROOT_KEY_LABEL } from './ca-files.ts'
import { openCaKeyStore, pkcs11KeyStoreConfig } from './ca-key-store.ts'
import { CA_CONFIG_DEFAULTS, validateCaConfig } from './config.ts'
import { IssuanceError } from './errors.ts'
import type { CaKeyStoreConfig, CaPkcs11Options } from './ca-key-store.ts'
import type { CaState } from './ca-state.ts'
import type { CaConfig } from './config.ts'
import type { KeyAlgorithm, KeyHandle } from '../identity/key-store.ts'
import type { Certificate } from '../pki/certificate.ts'

export interface CaInitOptions {
  dir: string
  /** Encrypts the CA keys; required unless they go to a PKCS#11 token. */
  passphrase: string | undefined
  /** Create the CA keys in this PKCS#11 token (P-256, non-extractable) instead of key files. */
  pkcs11?: CaPkcs11Options
  /** @default 'P-256' */
  keyAlgorithm?: KeyAlgorithm
  /** Create an issuing intermediate so the root key signs only it and its CRL. @default true */
  intermediate?: boolean
  now: Date
  /** @default 3650 (the root is the long-lived trust anchor; rotation adds a second root) */
  rootValidityDays?: number
  /** @default 1825, and never past the root */
  intermediateValidityDays?: number
  /** Subject DNs. @default `CN=dadm-mesh root CA <id>` / `CN=dadm-mesh issuing CA <id>` (id tells rotated CAs apart) */
  subject?: { root?: string, intermediate?: string }
  /** Overrides for ca.json settings. */
  config?: Partial<Omit<CaConfig, 'version' | 'key_algorithm' | 'intermediate'>>
  /** scrypt cost of the key files (tests lower it). */
  scryptLogN?: number
}

const DAY_MS = 24 * 3600 * 1000

/**
 * Refuses a directory that holds any part of a CA, then makes it (and the key directory of a
 * software CA) the owner's only, whatever the umask or an earlier `mkdir` left: it holds the
 * encrypted CA keys and the store. Files in it are written 0600.
 */
async function claimCaDir (dir: string, paths: ReturnType<typeof caPaths>, softwareKeys: boolean): Promise<void> {
  for (const p of Object.values(paths)) {
    if (await pathExists(p)) { throw new IssuanceError('CA_EXISTS', `${p} exists: refusing to overwrite a CA`) }
  }
  await ensurePrivateDir(dir)
  if (softwareKeys) { await ensurePrivateDir(paths.keys) }
}

/** Creates a CA in `dir`: keys, root (and intermediate) certificates, ca.json and the store. */
export async function createCa (opts: CaInitOptions): Promise<CaState> {
  const paths = caPaths(opts.dir)
  const keyStore: CaKeyStoreConfig = opts.pkcs11 != null ? pkcs11KeyStoreConfig(opts.pkcs11) : { type: 'software' }
  if (keyStore.type === 'software' && (opts.passphrase == null || opts.passphrase === '')) {
    throw new KeyStoreError('NO_PASSPHRASE', 'refusing to create a CA without a passphrase for its keys')
  }
  await claimCaDir(opts.dir, paths, keyStore.type === 'software')
  const alg = opts.keyAlgorithm ?? 'P-256'
  const withIntermediate = opts.intermediate ?? true
  const config = validateCaConfig({
    ...CA_CONFIG_DEFAULTS,
    ...opts.config,
    version: 1,
    key_algorithm: alg,
    intermediate: withIntermediate,
    ...(keyStore.type === 'pkcs11' ? { key_store: keyStore } : {})
  })
  const rootDays = opts.rootValidityDays ?? 3650
  const interDays = opts.intermediateValidityDays ?? 1825
  if (!(rootDays > 0) || !(interDays > 0)) { throw new IssuanceError('VALIDITY_OUT_OF_RANGE', 'CA validity must be positive') }

  const keyBackend = await openCaKeyStore(keyStore, paths.keys, opts.passphrase, opts.pkcs11, opts.scryptLogN)
  const keys = keyBackend.store
  let meshStore
  try {
    meshStore = await openStore(paths.db)
  } catch (err) {
    await keyBackend.close()
    throw err
  }
  try {
    const store = await CaStore.open(meshStore)
    const notBefore = new Date(Math.floor(opts.now.getTime() / 1000) * 1000)
    const rootNotAfter = new Date(notBefore.getTime() + rootDays * DAY_MS)

    const rootKey = await keys.generate(ROOT_KEY_LABEL, alg)
    const rootSerial = await store.freshSerial()
    const rootName = opts.subject?.root ?? `CN=dadm-mesh root CA ${rootSerial.slice(0, 8)}`
    const root = parseCertificate(await signCertificate({
      serialHex: rootSerial,
      subject: rootName,
      issuerName: rootName,
      notBefore,
      notAfter: rootNotAfter,
      spki: rootKey.publicKeySpki,
      // pathLen 1 lets the root sign one level of intermediates; 0 when it signs leaves itself.
      extensions: caExtensions(withIntermediate ? 1 : 0, rootKey.publicKeySpki),
      signer: rootKey.signer()
    }))
    await record(store, root, 'root', opts.now)

    let issuing: Certificate = root
    let issuingKey: KeyHandle = rootKey
    if (withIntermediate) {
      issuingKey = await keys.generate(ISSUING_KEY_LABEL, alg)
      const serial = await store.freshSerial()
      const notAfter = new Date(Math.min(notBefore.getTime() + interDays * DAY_MS, rootNotAfter.getTime()))
      issuing = parseCertificate(await signCertificate({
        serialHex: serial,
        subject: opts.subject?.intermediate ?? `CN=dadm-mesh issuing CA ${serial.slice(0, 8)}`,
        issuerName: root.subject.der,
        notBefore,
        notAfter,
        spki: issuingKey.publicKeySpki,
        extensions: caExtensions(0, issuingKey.publicKeySpki, keyIdentifier(rootKey.publicKeySpki)),
        signer: rootKey.signer()
      }))
      await record(store, issuing, 'intermediate', opts.now)
    }

    const rootPem = derToPem(root.der, 'CERTIFICATE')
    const chainPem = withIntermediate ? derToPem(issuing.der, 'CERTIFICATE') + rootPem : rootPem
    await writeFileExclusive(paths.root, rootPem, PRIVATE_FILE_MODE)
    await writeFileExclusive(paths.chain, chainPem, PRIVATE_FILE_MODE)
    await store.appendAudit(opts.now.getTime(), 'init', { key_algorithm: alg, intermediate: withIntermediate, root_serial: root.serialHex, key_store: keyStore.type })
    // ca.json goes last: its presence marks a complete CA.
    await writeFileExclusive(paths.config, JSON.stringify(config, null, 2) + '\n', PRIVATE_FILE_MODE)
    return { dir: opts.dir, config, root, issuing, rootPem, chainPem, rootKey, issuingKey, meshStore, store, closeKeys: keyBackend.close }
  } catch (err) {
    await meshStore.close()
    await keyBackend.close()
    throw err
  }
}

async function record (store: CaStore, cert: Certificate, profile: 'root' | 'intermediate', now: Date): Promise<void> {
  await store.recordIssued({
    serialHex: cert.serialHex,
    profile,
    subject: cert.subject.text,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    issuedAt: now.getTime(),
    der: Buffer.from(cert.der).toString('base64')
  })
}
