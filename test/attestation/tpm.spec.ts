import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { DEFAULT_ATTESTATION_POLICY } from '../../src/attestation/policy.ts'
import { Swtpm, swtpmMissing } from '../../src/attestation/swtpm.ts'
import { Tpm } from '../../src/attestation/tpm.ts'
import { verifyQuote } from '../../src/attestation/verify-quote.ts'
import { rejects } from '../ca/helpers.ts'
import { freshIdentity } from './fixtures.ts'

const NOW = new Date('2026-03-01T12:00:00Z')

describe('TPM backend (tpm2-tools against swtpm)', function () {
  let base: string
  let state: string
  let swtpm: Swtpm | undefined

  before(async function () {
    // Skip rule: needs the Debian packages swtpm and tpm2-tools (CI installs them).
    if (await swtpmMissing() != null) { this.skip() }
    base = await mkdtemp(join(tmpdir(), 'dadm-tpm-'))
    state = join(base, 'state')
    await mkdir(state)
  })

  afterEach(async () => {
    await swtpm?.stop()
    swtpm = undefined
  })

  after(async () => {
    if (base != null) { await rm(base, { recursive: true, force: true }) }
  })

  it('keeps EK and AK across a TPM restart, and quotes from the reloaded AK verify against the pinned keys', async () => {
    swtpm = await Swtpm.start({ stateDir: state })
    const first = new Tpm({ tcti: swtpm.tcti, dir: join(base, 'keys') })
    const ak = await first.ensureAk()
    const ek = await first.ekPublic()
    await swtpm.stop()
    // 1. a new swtpm process on the same state (another port): the TPM was reset
    swtpm = await Swtpm.start({ stateDir: state })
    const second = new Tpm({ tcti: swtpm.tcti, dir: join(base, 'keys') })
    const ak2 = await second.ensureAk()
    expect(Buffer.from(ak2.spki).equals(Buffer.from(ak.spki))).to.equal(true)
    expect(Buffer.from((await second.ekPublic()).spki).equals(Buffer.from(ek.spki))).to.equal(true)
    // 2. the reloaded AK quotes, and the quote passes with both keys pinned
    const id = freshIdentity()
    const ev = await second.quote({ ...id })
    const v = verifyQuote(NOW, ev, { ...id, nonceIssuedAt: NOW, pinnedEkSpki: ek.spki, pinnedAkSpki: ak.spki }, DEFAULT_ATTESTATION_POLICY)
    expect(v.attested).to.equal(true)
    expect(v.clock?.resetCount).to.be.a('number')
  })

  it('reads PCRs and extends them as the TPM spec says: new = H(old || digest)', async () => {
    swtpm = await Swtpm.start({ stateDir: state })
    const tpm = new Tpm({ tcti: swtpm.tcti, dir: join(base, 'keys') })
    const before = await tpm.readPcrs([7, 16])
    const d = createHash('sha256').update('measurement').digest()
    await tpm.extendPcr(16, d.toString('hex'))
    const after = await tpm.readPcrs([7, 16])
    expect(after.values['7']).to.equal(before.values['7'])
    const want = createHash('sha256').update(Buffer.from(before.values['16'], 'hex')).update(d).digest('hex')
    expect(after.values['16']).to.equal(want)
  })

  it('refuses to quote without an AK (NO_AK) and names a dead TPM (COMMAND_FAILED)', async () => {
    swtpm = await Swtpm.start({ stateDir: state })
    const empty = new Tpm({ tcti: swtpm.tcti, dir: join(base, 'empty') })
    expect(await rejects(empty.quote({ ...freshIdentity() }))).to.include({ name: 'TpmError', code: 'NO_AK' })
    expect(await rejects(empty.loadAk())).to.include({ code: 'NO_AK' })
    const tcti = swtpm.tcti
    await swtpm.stop()
    swtpm = undefined
    const dead = new Tpm({ tcti, dir: join(base, 'dead'), commandTimeoutMs: 10_000 })
    expect(await rejects(dead.readPcrs([0]))).to.include({ name: 'TpmError', code: 'COMMAND_FAILED' })
  })
})
