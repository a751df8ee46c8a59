import { constants, createCipheriv, createECDH, createHash, createHmac, createPublicKey, publicEncrypt, randomBytes, timingSafeEqual } from 'node:crypto'
import { AttestationError } from './errors.ts'
import { parseTpm2bPublic } from './tpm-public.ts'
import { TPM_ALG, TPM_HASHES } from './tpm-reader.ts'

/**
 * TPM2_MakeCredential done by the verifier in TypeScript (TPM 2.0 Part 1 §24, Annex B.10.4 and
 * C.6.4): a secret wrapped so that only the TPM holding the EK's private key can unwrap it, and
 * only for an object whose Name is the AK's (TPM2_ActivateCredential checks both). A node that
 * returns the secret has shown its AK lives in the same TPM as that EK. This is what makes an
 * EK certificate chain (or any trust in the EK) carry over to the AK.
 */

/** What the verifier sends (TPM2B_ID_OBJECT and TPM2B_ENCRYPTED_SECRET) and keeps (the secret). */
export interface CredentialChallenge {
  credentialBlob: Uint8Array
  encryptedSecret: Uint8Array
  secret: Uint8Array
}

function u32 (n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n)
  return b
}

function tpm2b (b: Uint8Array): Buffer {
  const size = Buffer.alloc(2)
  size.writeUInt16BE(b.length)
  return Buffer.concat([size, b])
}

/** KDFa (Part 1 §11.4.10.2): HMAC in counter mode over label, contexts and the bit count. */
export function kdfa (hash: string, key: Uint8Array, label: string, contextU: Uint8Array, contextV: Uint8Array, bits: number): Buffer {
  const out: Buffer[] = []
  let have = 0
  for (let i = 1; have * 8 < bits; i++) {
    const block = createHmac(hash, key).update(u32(i)).update(label).update(Buffer.from([0])).update(contextU).update(contextV).update(u32(bits)).digest()
    out.push(block)
    have += block.length
  }
  return Buffer.concat(out).subarray(0, bits / 8)
}

/** KDFe (Part 1 §11.4.10.3): the hash in counter mode over Z, label and both parties' x-coordinates. */
export function kdfe (hash: string, z: Uint8Array, label: string, partyU: Uint8Array, partyV: Uint8Array, bits: number): Buffer {
  const out: Buffer[] = []
  let have = 0
  for (let i = 1; have * 8 < bits; i++) {
    const block = createHash(hash).update(u32(i)).update(z).update(label).update(Buffer.from([0])).update(partyU).update(partyV).digest()
    out.push(block)
    have += block.length
  }
  return Buffer.concat(out).subarray(0, bits / 8)
}

/** The seed and its encryption to the EK: ECDH with an ephemeral P-256 key, or RSA-OAEP. */
function seedFor (ekSpki: Uint8Array, type: 'ecc' | 'rsa', hash: string, digestBits: number): { seed: Buffer, encryptedSecret: Buffer } {
  const ek = createPublicKey({ key: Buffer.from(ekSpki), format: 'der', type: 'spki' })
  if (type === 'rsa') {
    const seed = randomBytes(digestBits / 8)
    const enc = publicEncrypt({ key: ek, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash, oaepLabel: Buffer.from('IDENTITY\0') }, seed)
    return { seed, encryptedSecret: tpm2b(enc) }
  }
  const jwk = ek.export({ format: 'jwk' })
  const ekX = Buffer.from(jwk.x as string, 'base64url')
  const ekY = Buffer.from(jwk.y as string, 'base64url')
  const eph = createECDH('prime256v1')
  const ephPub = eph.generateKeys()
  const z = eph.computeSecret(Buffer.concat([Buffer.from([4]), ekX, ekY]))
  const ephX = ephPub.subarray(1, 33)
  const ephY = ephPub.subarray(33, 65)
  const seed = kdfe(hash, z, 'IDENTITY', ephX, ekX, digestBits)
  return { seed, encryptedSecret: tpm2b(Buffer.concat([tpm2b(ephX), tpm2b(ephY)])) }
}

/**
 * Makes a credential challenge for the AK named `akName` under the EK `ekPublic` (TPM2B_PUBLIC,
 * as evidence carries it). Supports the standard EK templates: ECC P-256 or RSA, AES-128/256-CFB.
 */
export function makeCredential (ekPublic: Uint8Array, akName: Uint8Array, secret: Uint8Array = randomBytes(32)): CredentialChallenge {
  const ek = parseTpm2bPublic(ekPublic)
  const hash = TPM_HASHES.get(ek.nameAlg)
  const sym = ek.symmetric
  if (hash == null || sym == null || sym.algorithm !== TPM_ALG.AES || sym.mode !== TPM_ALG.CFB || (sym.keyBits !== 128 && sym.keyBits !== 256)) {
    throw new AttestationError('UNSUPPORTED_ALGORITHM', 'the EK is not a storage key with AES-CFB (the standard EK templates)')
  }
  if (secret.length === 0 || secret.length > hash.size) {
    throw new AttestationError('MALFORMED_EVIDENCE', `a credential is 1-${hash.size} bytes`)
  }
  const { seed, encryptedSecret } = seedFor(ek.spki, ek.type, hash.name, hash.size * 8)
  const symKey = kdfa(hash.name, seed, 'STORAGE', akName, new Uint8Array(0), sym.keyBits)
  const cipher = createCipheriv(`aes-${sym.keyBits}-cfb`, symKey, Buffer.alloc(16))
  const encIdentity = Buffer.concat([cipher.update(tpm2b(secret)), cipher.final()])
  const hmacKey = kdfa(hash.name, seed, 'INTEGRITY', new Uint8Array(0), new Uint8Array(0), hash.size * 8)
  const outerHmac = createHmac(hash.name, hmacKey).update(encIdentity).update(akName).digest()
  return {
    credentialBlob: new Uint8Array(tpm2b(Buffer.concat([tpm2b(outerHmac), encIdentity]))),
    encryptedSecret: new Uint8Array(encryptedSecret),
    secret: new Uint8Array(secret)
  }
}

/** [REJECT] the node's answer must be the secret: only the TPM holding EK and AK could unwrap it. */
export function checkActivation (challenge: CredentialChallenge, answer: Uint8Array): void {
  if (answer.length !== challenge.secret.length || !timingSafeEqual(answer, challenge.secret)) {
    throw new AttestationError('AK_NOT_BOUND_TO_EK', 'the credential was not activated: the AK is not in the TPM that holds this EK')
  }
}

/** tpm2-tools' credential file (tpm2_makecredential -o): magic, version, ID object, secret. */
export function credentialFile (c: Pick<CredentialChallenge, 'credentialBlob' | 'encryptedSecret'>): Uint8Array {
  return new Uint8Array(Buffer.concat([u32(0xbadcc0de), u32(1), c.credentialBlob, c.encryptedSecret]))
}
