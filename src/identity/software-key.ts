import { createPrivateKey, createPublicKey, sign as signSync, webcrypto } from 'node:crypto'
import { KeyStoreError } from './errors.ts'
import type { KeyAlgorithm, KeyHandle, X509Signer } from './key-store.ts'

/** WebCrypto parameters for import and signing per key algorithm. */
export const WEBCRYPTO_PARAMS: Record<KeyAlgorithm, { importParams: EcKeyImportParams | Algorithm, signParams: EcdsaParams | Algorithm }> = {
  'P-256': { importParams: { name: 'ECDSA', namedCurve: 'P-256' }, signParams: { name: 'ECDSA', hash: 'SHA-256' } },
  Ed25519: { importParams: { name: 'Ed25519' }, signParams: { name: 'Ed25519' } }
}

const subtle = webcrypto.subtle as unknown as SubtleCrypto

/**
 * Builds a KeyHandle from PKCS#8 bytes held in memory only for the duration of the call. The
 * private CryptoKey is imported non-extractable unless the key was created exportable; the
 * caller zeroes `pkcs8` afterwards.
 */
export async function softwareKeyFromPkcs8 (label: string, algorithm: KeyAlgorithm, pkcs8: Uint8Array, exportable: boolean): Promise<KeyHandle> {
  const { importParams, signParams } = WEBCRYPTO_PARAMS[algorithm]
  const keyObject = createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' })
  const expected = algorithm === 'P-256' ? 'ec' : 'ed25519'
  if (keyObject.asymmetricKeyType !== expected || (algorithm === 'P-256' && keyObject.asymmetricKeyDetails?.namedCurve !== 'prime256v1')) {
    throw new KeyStoreError('TAMPERED_KEY_FILE', `key material is not a ${algorithm} key`)
  }
  const publicKeySpki = new Uint8Array(createPublicKey(keyObject).export({ format: 'der', type: 'spki' }))
  const privateKey = await subtle.importKey('pkcs8', pkcs8 as BufferSource, importParams, exportable, ['sign'])
  const publicKey = await subtle.importKey('spki', publicKeySpki, importParams, true, ['verify'])
  const crypto = webcrypto as unknown as Crypto
  return {
    label,
    backend: 'software',
    algorithm,
    publicKeySpki,
    publicKey,
    exportable,
    async sign (data: Uint8Array): Promise<Uint8Array> {
      // node:crypto signs in the calling turn (about 50 us for P-256), where WebCrypto's sign
      // queues on the thread pool and resolves a turn or more later. An auth handshake waits on
      // two such signatures, so the sync path is what a dial wants. The KeyObject never leaves
      // this closure; the non-extractable CryptoKey stays the one that X.509 signing uses.
      return new Uint8Array(signSync(algorithm === 'P-256' ? 'sha256' : null, data, keyObject))
    },
    signer (): X509Signer {
      return { privateKey, publicKey, crypto, signingAlgorithm: signParams }
    },
    async exportPrivateKey (): Promise<Uint8Array> {
      if (!exportable) {
        throw new KeyStoreError('NOT_EXPORTABLE', `key ${label} was not created exportable`)
      }
      return new Uint8Array(await subtle.exportKey('pkcs8', privateKey))
    }
  }
}

/** Generates fresh PKCS#8 key material for `algorithm`. */
export async function generatePkcs8 (algorithm: KeyAlgorithm): Promise<Buffer> {
  const { importParams } = WEBCRYPTO_PARAMS[algorithm]
  // Generated extractable only long enough to be written encrypted; the handle re-imports it.
  const pair = await subtle.generateKey(importParams as EcKeyGenParams, true, ['sign', 'verify']) as CryptoKeyPair
  return Buffer.from(await subtle.exportKey('pkcs8', pair.privateKey))
}
