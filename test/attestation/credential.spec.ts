import { createHash, createHmac } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { checkActivation, kdfa, makeCredential } from '../../src/attestation/credential.ts'
import { swtpmMissing } from '../../src/attestation/swtpm.ts'
import { rejects } from '../ca/helpers.ts'
import { startTestTpm, tpmTool } from './fixtures.ts'
import type { TestTpm } from './fixtures.ts'

/** Coordinate sizes of a TPM2B_ENCRYPTED_SECRET that holds a TPM2B_ECC_POINT; throws on a bad frame. */
function eccPointSizes (b: Uint8Array): { x: number, y: number } {
  const u16 = (at: number): number => (b[at] << 8) | b[at + 1]
  const x = u16(2)
  const y = u16(4 + x)
  if (u16(0) !== b.length - 2 || 6 + x + y !== b.length) { throw new Error('not a TPM2B_ECC_POINT frame') }
  return { x, y }
}

describe('credential activation (AK proven to live beside the EK)', function () {
  let A: TestTpm
  let B: TestTpm

  before(async function () {
    // Skip rule: needs the Debian packages swtpm and tpm2-tools (CI installs them).
    if (await swtpmMissing() != null) { this.skip() }
    A = await startTestTpm()
    B = await startTestTpm()
  })

  after(async () => {
    await A?.stop()
    await B?.stop()
  })

  it('KDFa matches the TPM spec definition for one block', () => {
    const key = Buffer.alloc(32, 1)
    const want = createHmac('sha256', key).update(Buffer.from('00000001', 'hex')).update('STORAGE\0').update(Buffer.from('ab', 'hex')).update(Buffer.from('00000080', 'hex')).digest().subarray(0, 16)
    expect(kdfa('sha256', key, 'STORAGE', Buffer.from('ab', 'hex'), new Uint8Array(0), 128).equals(want)).to.equal(true)
  })

  it('the TPM holding EK and AK unwraps a challenge made in TypeScript', async () => {
    const c = makeCredential(A.ek.public, A.ak.name)
    const answer = await A.tpm.activateCredential(c)
    expect(Buffer.from(answer).equals(Buffer.from(c.secret))).to.equal(true)
    expect(() => { checkActivation(c, answer) }).to.not.throw()
  })

  it('tpm2_makecredential (offline) and our challenge are unwrapped alike by the TPM', async () => {
    const secretFile = join(A.dir, 'secret.in')
    const secret = createHash('sha256').update('outside').digest()
    await writeFile(secretFile, secret)
    await writeFile(join(A.dir, 'ek.pub'), A.ek.public)
    await tpmTool('none', 'tpm2_makecredential', ['-T', 'none', '-u', join(A.dir, 'ek.pub'), '-s', secretFile, '-n', Buffer.from(A.ak.name).toString('hex'), '-o', join(A.dir, 'cred.out')])
    const file = new Uint8Array(await readFile(join(A.dir, 'cred.out')))
    // tpm2-tools file: magic, version, TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET
    const idLen = (file[8] << 8) | file[9]
    const credentialBlob = file.subarray(8, 10 + idLen)
    const encryptedSecret = file.subarray(10 + idLen)
    const ours = makeCredential(A.ek.public, A.ak.name, secret)
    expect(ours.credentialBlob.length).to.equal(credentialBlob.length)
    // The encrypted seed is a TPM2B_ECC_POINT: tpm2-tools writes each coordinate at its minimal
    // length (a leading zero byte is dropped about once in 128 runs), we pad both to 32 bytes.
    // Either is a valid encoding, so compare shapes, not lengths.
    const theirs = eccPointSizes(encryptedSecret)
    expect(theirs.x).to.be.within(1, 32)
    expect(theirs.y).to.be.within(1, 32)
    expect(eccPointSizes(ours.encryptedSecret)).to.deep.equal({ x: 32, y: 32 })
    expect(Buffer.from(await A.tpm.activateCredential({ credentialBlob, encryptedSecret })).equals(secret)).to.equal(true)
    expect(Buffer.from(await A.tpm.activateCredential(ours)).equals(secret)).to.equal(true)
  })

  it('another TPM cannot answer: a challenge for A\'s EK and B\'s AK fails in B, and A refuses it for its AK', async () => {
    // B's AK claimed to live under A's EK: only A holds the EK private key, and A's AK has another Name
    const forB = makeCredential(A.ek.public, B.ak.name)
    expect(await rejects(B.tpm.activateCredential(forB))).to.include({ name: 'TpmError', code: 'COMMAND_FAILED' })
    expect(await rejects(A.tpm.activateCredential(forB))).to.include({ name: 'TpmError', code: 'COMMAND_FAILED' })
    const wrong = new Uint8Array(forB.secret)
    wrong[0] ^= 1
    try {
      checkActivation(forB, wrong)
      expect.fail('a wrong answer was accepted')
    } catch (err: any) {
      expect(err).to.include({ name: 'AttestationError', code: 'AK_NOT_BOUND_TO_EK' })
    }
  })
})
