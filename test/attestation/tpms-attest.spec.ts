import { createHash, generateKeyPairSync } from 'node:crypto'
import { expect } from 'aegir/chai'
import { akQualifiedNameUnderEk, parseEvidenceKey, parseTpm2bPublic, qualifiedName } from '../../src/attestation/tpm-public.ts'
import { parseTpmtSignature } from '../../src/attestation/tpm-signature.ts'
import { parseTpmsAttest } from '../../src/attestation/tpms-attest.ts'

/** Big-endian writer for hand-built TPM structures. */
class W {
  parts: number[] = []
  u8 (v: number): this { this.parts.push(v & 0xff); return this }
  u16 (v: number): this { return this.u8(v >> 8).u8(v) }
  u32 (v: number): this { return this.u16(v >>> 16).u16(v & 0xffff) }
  u64 (v: bigint): this { return this.u32(Number(v >> 32n)).u32(Number(v & 0xffffffffn)) }
  raw (b: Uint8Array | number[]): this { this.parts.push(...b); return this }
  tpm2b (b: Uint8Array | number[]): this { return this.u16(b.length).raw(b) }
  get bytes (): Uint8Array { return new Uint8Array(this.parts) }
}

interface AttestFields { magic?: number, type?: number, name?: number[], extra?: number[], safe?: number, selections?: Array<{ hash: number, select: number[] }>, digest?: number[], selCount?: number }

function attest (f: AttestFields = {}): Uint8Array {
  const sels = f.selections ?? [{ hash: 0x000b, select: [0xff, 0x00, 0x00] }]
  const w = new W()
    .u32(f.magic ?? 0xff544347).u16(f.type ?? 0x8018)
    .tpm2b(f.name ?? [0x00, 0x0b, ...new Array(32).fill(7)])
    .tpm2b(f.extra ?? new Array(32).fill(9))
    .u64(1234n).u32(5).u32(6).u8(f.safe ?? 1)
    .u64(0x0102030405060708n)
    .u32(f.selCount ?? sels.length)
  for (const s of sels) { w.u16(s.hash).u8(s.select.length).raw(s.select) }
  return w.tpm2b(f.digest ?? new Array(32).fill(3)).bytes
}

function codeOf (fn: () => unknown): string {
  try {
    fn()
  } catch (err: any) {
    expect(err.name).to.equal('AttestationError')
    return err.code
  }
  return 'PARSED'
}

describe('TPMS_ATTEST parser', () => {
  it('reads every field of a quote attestation', () => {
    const a = parseTpmsAttest(attest({ selections: [{ hash: 0x000b, select: [0x81, 0x00, 0x01] }] }))
    expect(a.qualifiedSigner).to.have.length(34)
    expect(a.extraData).to.deep.equal(new Uint8Array(32).fill(9))
    expect(a).to.include({ clock: 1234n, resetCount: 5, restartCount: 6, safe: true, firmwareVersion: 0x0102030405060708n })
    expect(a.pcrSelect).to.deep.equal([{ hash: 0x000b, indexes: [0, 7, 16] }])
    expect(a.pcrDigest).to.deep.equal(new Uint8Array(32).fill(3))
  })

  it('checks magic before type, and type before anything else', () => {
    expect(codeOf(() => parseTpmsAttest(attest({ magic: 0xff544346, type: 0x8017 })))).to.equal('BAD_MAGIC')
    expect(codeOf(() => parseTpmsAttest(attest({ type: 0x8014 })))).to.equal('BAD_TYPE')
    expect(codeOf(() => parseTpmsAttest(new Uint8Array([0xff, 0x54, 0x43, 0x47, 0x80, 0x17])))).to.equal('BAD_TYPE')
  })

  const malformed: Array<[string, () => Uint8Array]> = [
    ['an empty buffer', () => new Uint8Array(0)],
    ['a name longer than TPMU_NAME', () => attest({ name: new Array(67).fill(1) })],
    ['extraData longer than 64 bytes', () => attest({ extra: new Array(65).fill(1) })],
    ['a TPMI_YES_NO safe of 2', () => attest({ safe: 2 })],
    ['more than 8 PCR banks', () => attest({ selCount: 9 })],
    ['a PCR bank count with no banks behind it', () => attest({ selCount: 2 })],
    ['a select of more than 8 bytes', () => attest({ selections: [{ hash: 0x000b, select: new Array(9).fill(0) }] })],
    ['a pcrDigest longer than 64 bytes', () => attest({ digest: new Array(65).fill(0) })],
    ['one trailing byte', () => new Uint8Array([...attest(), 0])],
    ['a size field pointing past the end', () => attest().subarray(0, 20)],
    ['more than 1 KiB', () => new Uint8Array([...attest(), ...new Array(1024).fill(0)])]
  ]
  malformed.forEach(([what, make]) => {
    it(`refuses ${what} with MALFORMED_EVIDENCE`, () => {
      expect(codeOf(() => parseTpmsAttest(make()))).to.equal('MALFORMED_EVIDENCE')
    })
  })

  it('refuses every truncation of a valid attestation', () => {
    const full = attest()
    for (let n = 6; n < full.length; n++) {
      expect(codeOf(() => parseTpmsAttest(full.subarray(0, n))), `length ${n}`).to.equal('MALFORMED_EVIDENCE')
    }
  })
})

describe('TPMT_SIGNATURE and TPM2B_PUBLIC parsers', () => {
  it('reads ECDSA and RSASSA signatures, and refuses SHA-1, unknown schemes and trailing bytes', () => {
    const ecdsa = new W().u16(0x0018).u16(0x000b).tpm2b([1, 2]).tpm2b([3]).bytes
    expect(parseTpmtSignature(ecdsa)).to.deep.include({ scheme: 'ecdsa', hash: 'sha256' })
    expect(parseTpmtSignature(new W().u16(0x0014).u16(0x000c).tpm2b([1]).bytes)).to.deep.include({ scheme: 'rsassa', hash: 'sha384' })
    expect(codeOf(() => parseTpmtSignature(new W().u16(0x0018).u16(0x0004).tpm2b([1]).tpm2b([1]).bytes))).to.equal('UNSUPPORTED_ALGORITHM')
    expect(codeOf(() => parseTpmtSignature(new W().u16(0x001c).u16(0x000b).bytes))).to.equal('UNSUPPORTED_ALGORITHM')
    expect(codeOf(() => parseTpmtSignature(new Uint8Array([...ecdsa, 0])))).to.equal('MALFORMED_EVIDENCE')
  })

  it('turns an ECC TPM2B_PUBLIC into the same SPKI node:crypto makes, with the TPM Name', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const jwk = publicKey.export({ format: 'jwk' })
    const x = Buffer.from(jwk.x as string, 'base64url')
    const y = Buffer.from(jwk.y as string, 'base64url')
    const tpmt = new W().u16(0x0023).u16(0x000b).u32(0x00050072).tpm2b([])
      .u16(0x0010).u16(0x0018).u16(0x000b).u16(0x0003).u16(0x0010).tpm2b(x).tpm2b(y).bytes
    const pub = parseTpm2bPublic(new W().tpm2b(tpmt).bytes)
    expect(Buffer.from(pub.spki).equals(publicKey.export({ format: 'der', type: 'spki' }))).to.equal(true)
    expect(Buffer.from(pub.name).toString('hex')).to.equal('000b' + createHash('sha256').update(tpmt).digest('hex'))
    // the same key as an SPKI: no Name, no attributes
    expect(parseEvidenceKey(pub.spki, 'ak_public')).to.deep.equal({ spki: pub.spki })
    // a point off the curve is refused
    const bad = Buffer.from(tpmt)
    bad[bad.length - 1] ^= 1
    expect(codeOf(() => parseTpm2bPublic(new W().tpm2b(bad).bytes))).to.equal('MALFORMED_EVIDENCE')
  })

  it('computes qualified names as H(parent QN || Name) from the endorsement hierarchy handle', () => {
    const ek = new Uint8Array([0, 0x0b, ...new Array(32).fill(1)])
    const ak = new Uint8Array([0, 0x0b, ...new Array(32).fill(2)])
    const qek = createHash('sha256').update(Buffer.from('4000000b', 'hex')).update(ek).digest()
    const qak = createHash('sha256').update(Buffer.concat([Buffer.from('000b', 'hex'), qek])).update(ak).digest()
    expect(Buffer.from(akQualifiedNameUnderEk(ek, ak)).toString('hex')).to.equal('000b' + qak.toString('hex'))
    expect(Buffer.from(qualifiedName(new Uint8Array([0x40, 0, 0, 0x0b]), ek)).subarray(2).equals(qek)).to.equal(true)
  })
})
