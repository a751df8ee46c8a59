import { readFile } from 'node:fs/promises'
import { KeyStoreError } from '../../identity/errors.ts'
import { SoftwareKeyStore } from '../../identity/software-key-store.ts'
import { CaStore } from '../../store/ca-store.ts'
import { openStore } from '../../store/mesh-store.ts'
import { parseCertificate } from '../certificate.ts'
import { pemToDer, pemToDerAll } from '../pem.ts'
import { bytesEqual } from '../signature.ts'
import { caPaths, ISSUING_KEY_LABEL, ROOT_KEY_LABEL } from './ca-files.ts'
import { readCaConfig } from './config.ts'
import { IssuanceError } from './errors.ts'
import type { CaState } from './ca-state.ts'
import type { Certificate } from '../certificate.ts'

export interface CaOpenOptions {
  dir: string
  passphrase: string | undefined
}

async function readCerts (path: string): Promise<{ pem: string, certs: Certificate[] }> {
  let pem: string
  try {
    pem = await readFile(path, 'utf8')
  } catch (err) {
    throw new IssuanceError('BAD_CA_CONFIG', `cannot read ${path}`, { cause: err })
  }
  try {
    return { pem, certs: pemToDerAll(pem, 'CERTIFICATE').map(parseCertificate) }
  } catch (err) {
    throw new IssuanceError('BAD_CA_CONFIG', `${path} does not hold certificates`, { cause: err })
  }
}

/**
 * Opens an existing CA: reads ca.json and the certificates, decrypts the keys (refusing a wrong
 * passphrase or a tampered key file) and checks that each key matches its certificate.
 */
export async function loadCa (opts: CaOpenOptions): Promise<CaState> {
  if (opts.passphrase == null || opts.passphrase === '') {
    throw new KeyStoreError('NO_PASSPHRASE', 'the CA keys need a passphrase')
  }
  const paths = caPaths(opts.dir)
  const config = await readCaConfig(paths.config)
  const { pem: rootPem, certs: [root] } = await readCerts(paths.root)
  const { pem: chainPem, certs: chain } = await readCerts(paths.chain)
  if (chain.length !== (config.intermediate ? 2 : 1) || !bytesEqual(chain[chain.length - 1].der, root.der)) {
    throw new IssuanceError('BAD_CA_CONFIG', 'ca-chain.pem must be the issuing CA then root.pem')
  }
  pemToDer(rootPem, 'CERTIFICATE')
  const issuing = chain[0]

  const keys = new SoftwareKeyStore({ dir: paths.keys, passphrase: opts.passphrase })
  const rootKey = await keys.load(ROOT_KEY_LABEL)
  const issuingKey = config.intermediate ? await keys.load(ISSUING_KEY_LABEL) : rootKey
  if (!bytesEqual(rootKey.publicKeySpki, root.spki) || !bytesEqual(issuingKey.publicKeySpki, issuing.spki)) {
    throw new IssuanceError('BAD_CA_CONFIG', 'a CA key does not match its certificate')
  }
  const meshStore = await openStore(paths.db)
  try {
    const store = await CaStore.open(meshStore)
    return { dir: opts.dir, config, root, issuing, rootPem, chainPem, rootKey, issuingKey, meshStore, store }
  } catch (err) {
    await meshStore.close()
    throw err
  }
}
