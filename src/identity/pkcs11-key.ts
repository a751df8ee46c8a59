import { createPublicKey, webcrypto } from 'node:crypto'
import { p1363ToDer } from './ecdsa-format.ts'
import { KeyStoreError } from './errors.ts'
import { mapPkcs11Error } from './pkcs11-module.ts'
import type { KeyBackend, KeyHandle, X509Signer } from './key-store.ts'
import type { Lock } from '../util/lock.ts'
import type { Crypto as P11Crypto } from 'node-webcrypto-p11'

export const P256_SIGN: EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' }

/** What a PKCS#11 key handle shares with its store. */
export interface Pkcs11Context {
  crypto: P11Crypto
  /** One PKCS#11 session runs one operation at a time (CKR_OPERATION_ACTIVE otherwise). */
  lock: Lock
  backend: KeyBackend
  /** Throws STORE_CLOSED once the store's session is gone. */
  assertOpen(): void
}

/**
 * A WebCrypto whose `subtle` calls go through the store's lock, so `@peculiar/x509` signing a
 * CSR cannot collide with a transcript signature on the same session. Random numbers come from
 * Node: they need no token round trip.
 */
function lockedCrypto (ctx: Pkcs11Context): Crypto {
  const target = ctx.crypto.subtle
  const subtle = new Proxy(target, {
    get (t, prop) {
      const v = Reflect.get(t, prop, t)
      if (typeof v !== 'function') { return v }
      return async (...args: unknown[]) => ctx.lock.run(async () => {
        ctx.assertOpen()
        return v.apply(t, args)
      })
    }
  })
  return {
    subtle,
    getRandomValues: <T extends ArrayBufferView | null>(a: T): T => webcrypto.getRandomValues(a as any) as T,
    randomUUID: () => webcrypto.randomUUID()
  } as unknown as Crypto
}

/**
 * Builds the KeyHandle of a P-256 key pair held in a token. The private key never leaves the
 * token: it is created sensitive and non-extractable, and `exportPrivateKey` refuses before
 * asking the token anything.
 */
export async function pkcs11KeyHandle (ctx: Pkcs11Context, label: string, privateKey: CryptoKey, publicKey: CryptoKey): Promise<KeyHandle> {
  let spki: Uint8Array
  try {
    spki = new Uint8Array(await ctx.lock.run(async () => ctx.crypto.subtle.exportKey('spki', publicKey as any)))
  } catch (err) {
    throw mapPkcs11Error(err, `cannot read the public key of ${label}`)
  }
  const details = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }).asymmetricKeyDetails
  if (details?.namedCurve !== 'prime256v1') {
    throw new KeyStoreError('UNSUPPORTED_ALGORITHM', `token key ${label} is not a P-256 key`)
  }
  const crypto = lockedCrypto(ctx)
  return {
    label,
    backend: ctx.backend,
    algorithm: 'P-256',
    publicKeySpki: spki,
    publicKey,
    exportable: false,
    async sign (data: Uint8Array): Promise<Uint8Array> {
      let sig: ArrayBuffer
      try {
        sig = await crypto.subtle.sign(P256_SIGN, privateKey, data as BufferSource)
      } catch (err) {
        throw mapPkcs11Error(err, `token refused to sign with ${label}`)
      }
      return p1363ToDer(new Uint8Array(sig))
    },
    signer (): X509Signer {
      return { privateKey, publicKey, crypto, signingAlgorithm: P256_SIGN }
    },
    async exportPrivateKey (): Promise<Uint8Array> {
      throw new KeyStoreError('NOT_EXPORTABLE', `key ${label} lives in a token and never leaves it`)
    }
  }
}
