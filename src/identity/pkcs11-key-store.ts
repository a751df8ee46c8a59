import 'reflect-metadata'
import * as graphene from 'graphene-pk11'
import { Crypto as P11Crypto, CryptoKey as P11CryptoKey, TemplateBuilder } from 'node-webcrypto-p11'
import { createLock } from '../util/lock.ts'
import { KeyStoreError } from './errors.ts'
import { LABEL_PATTERN } from './key-store.ts'
import { pkcs11KeyHandle } from './pkcs11-key.ts'
import { acquireModule, findSlot, findSoftHsmModule, mapPkcs11Error, openSession } from './pkcs11-module.ts'
import { resolvePin } from './pkcs11-pin.ts'
import type { GenerateOptions, KeyAlgorithm, KeyBackend, KeyHandle, KeyStore } from './key-store.ts'
import type { Pkcs11Context } from './pkcs11-key.ts'
import type { ModuleRef, TokenSelector } from './pkcs11-module.ts'
import type { PinSource } from './pkcs11-pin.ts'
import type { ITemplateBuildParameters } from 'node-webcrypto-p11'

export interface Pkcs11KeyStoreInit extends TokenSelector, PinSource {
  /** Path of the PKCS#11 module. @default SoftHSM2's libsofthsm2.so, found under /usr/lib */
  module?: string
}

/** What the store opened, for logs and for `--key-store auto` to report its choice. */
export interface Pkcs11TokenInfo {
  module: string
  manufacturer: string
  tokenLabel: string
  tokenModel: string
  backend: KeyBackend
}

const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' }

/**
 * tpm2-pkcs11 fills CKA_VERIFY / CKA_ENCRYPT / CKA_DECRYPT from the TPM object it creates and
 * fails C_GenerateKeyPair (CKR_GENERAL_ERROR, "User specified and TPM specified attr mismatch")
 * when a template states them differently; node-webcrypto-p11 states them as false. For that
 * module only, leave them to the token. SoftHSM2 keeps the explicit template.
 */
function tpm2TemplateBuilder (): { build(p: ITemplateBuildParameters): graphene.ITemplate } {
  const base = new TemplateBuilder()
  return {
    build (p: ITemplateBuildParameters): graphene.ITemplate {
      const t = base.build(p)
      if (p.action === 'generate' && (p.type === 'private' || p.type === 'public')) {
        delete t.verify
        delete t.encrypt
        delete t.decrypt
      }
      return t
    }
  }
}

/**
 * The PKCS#11 backend (SoftHSM2, HSMs, and TPMs through tpm2-pkcs11): P-256 keys created in the
 * token (CKA_TOKEN), sensitive and never extractable, found again by CKA_LABEL. One logged-in
 * session per store; every operation on it is serialized.
 */
export class Pkcs11KeyStore implements KeyStore {
  readonly info: Pkcs11TokenInfo
  readonly #ref: ModuleRef
  readonly #session: graphene.Session
  readonly #ctx: Pkcs11Context
  #closed = false

  private constructor (ref: ModuleRef, session: graphene.Session, info: Pkcs11TokenInfo) {
    this.#ref = ref
    this.#session = session
    this.info = info
    const crypto = new P11Crypto({ session })
    if (info.backend === 'tpm') { crypto.templateBuilder = tpm2TemplateBuilder() }
    this.#ctx = {
      crypto,
      lock: createLock(),
      backend: info.backend,
      assertOpen: () => { if (this.#closed) { throw new KeyStoreError('STORE_CLOSED', 'the PKCS#11 key store is closed') } }
    }
  }

  /** Loads the module, finds the token, logs in with the PIN from the source. */
  static async open (init: Pkcs11KeyStoreInit = {}): Promise<Pkcs11KeyStore> {
    const modulePath = init.module ?? findSoftHsmModule()
    if (modulePath == null) { throw new KeyStoreError('MODULE_NOT_FOUND', 'no PKCS#11 module given and SoftHSM2 is not installed') }
    const pin = await resolvePin(init)
    const ref = acquireModule(modulePath)
    try {
      const slot = findSlot(ref.module, init)
      const token = slot.getToken()
      const session = openSession(slot, pin)
      const manufacturer = ref.module.manufacturerID
      const backend: KeyBackend = /tpm2/i.test(manufacturer) || /tpm/i.test(token.manufacturerID) ? 'tpm' : 'pkcs11'
      return new Pkcs11KeyStore(ref, session, { module: modulePath, manufacturer, tokenLabel: token.label, tokenModel: token.model, backend })
    } catch (err) {
      ref.release()
      throw err
    }
  }

  async #run<T>(what: string, fn: () => Promise<T> | T): Promise<T> {
    return this.#ctx.lock.run(async () => {
      this.#ctx.assertOpen()
      try {
        return await fn()
      } catch (err) {
        throw mapPkcs11Error(err, what)
      }
    })
  }

  #checkLabel (label: string): void {
    if (!LABEL_PATTERN.test(label)) {
      throw new KeyStoreError('BAD_LABEL', `key label ${JSON.stringify(label)} is not [A-Za-z0-9._-]{1,64}`)
    }
  }

  /** Token objects of `cls` under `label` (a token holds few keys; the search is bounded). */
  #find (cls: graphene.ObjectClass, label: string): graphene.SessionObject[] {
    const found: graphene.SessionObject[] = []
    this.#session.find({ class: cls, token: true, label }, (obj) => {
      found.push(obj)
      return found.length < 16
    })
    return found
  }

  async generate (label: string, algorithm: KeyAlgorithm, options: GenerateOptions = {}): Promise<KeyHandle> {
    this.#checkLabel(label)
    if (algorithm !== 'P-256') { throw new KeyStoreError('UNSUPPORTED_ALGORITHM', `the PKCS#11 store holds P-256 keys, not ${String(algorithm)}`) }
    if (options.exportable === true) { throw new KeyStoreError('EXPORTABLE_NOT_SUPPORTED', 'a token key is never exportable; keep exportable keys in the software store') }
    const pair = await this.#run(`cannot create key ${label}`, async () => {
      if (this.#find(graphene.ObjectClass.PRIVATE_KEY, label).length > 0) {
        throw new KeyStoreError('KEY_EXISTS', `the token already holds a key labelled ${label}`)
      }
      const alg = { ...EC_P256, token: true, sensitive: true, label }
      return await this.#ctx.crypto.subtle.generateKey(alg as EcKeyGenParams, false, ['sign', 'verify']) as CryptoKeyPair
    })
    return pkcs11KeyHandle(this.#ctx, label, pair.privateKey, pair.publicKey)
  }

  async load (label: string): Promise<KeyHandle> {
    this.#checkLabel(label)
    const { privateKey, publicKey } = await this.#run(`cannot load key ${label}`, async () => {
      const priv = this.#find(graphene.ObjectClass.PRIVATE_KEY, label)
      const pub = this.#find(graphene.ObjectClass.PUBLIC_KEY, label)
      if (priv.length === 0) { throw new KeyStoreError('KEY_NOT_FOUND', `the token holds no key labelled ${label}`) }
      if (priv.length > 1 || pub.length !== 1) {
        throw new KeyStoreError('TOKEN_ERROR', `label ${label} names ${priv.length} private and ${pub.length} public keys; expected one of each`)
      }
      const storage = this.#ctx.crypto.keyStorage
      return {
        privateKey: await storage.getItem(P11CryptoKey.getID(priv[0].toType<graphene.PrivateKey>()), EC_P256, false, ['sign']),
        publicKey: await storage.getItem(P11CryptoKey.getID(pub[0].toType<graphene.PublicKey>()), EC_P256, true, ['verify'])
      }
    })
    return pkcs11KeyHandle(this.#ctx, label, privateKey as unknown as CryptoKey, publicKey as unknown as CryptoKey)
  }

  async has (label: string): Promise<boolean> {
    this.#checkLabel(label)
    return this.#run(`cannot search for key ${label}`, () => this.#find(graphene.ObjectClass.PRIVATE_KEY, label).length > 0)
  }

  async delete (label: string): Promise<void> {
    this.#checkLabel(label)
    await this.#run(`cannot delete key ${label}`, () => {
      const objs = [...this.#find(graphene.ObjectClass.PRIVATE_KEY, label), ...this.#find(graphene.ObjectClass.PUBLIC_KEY, label)]
      if (objs.length === 0) { throw new KeyStoreError('KEY_NOT_FOUND', `the token holds no key labelled ${label}`) }
      for (const o of objs) { o.destroy() }
    })
  }

  /** Closes the session (the login ends with the last session) and releases the module. */
  async close (): Promise<void> {
    if (this.#closed) { return }
    await this.#ctx.lock.run(async () => {
      this.#closed = true
      try { this.#session.close() } catch {}
      this.#ref.release()
    })
  }
}
