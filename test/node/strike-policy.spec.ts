import { expect } from 'aegir/chai'
import { ownCertificateValidity } from '../../src/node/own-validity.ts'
import { earnsBackoff } from '../../src/node/strike-policy.ts'
import { createTestCa, enroll, NOW } from './fixtures.ts'
import type { AuthFailure } from '../../protocols/auth/index.ts'

const base: AuthFailure = { peerId: 'p', connectionId: 'c', direction: 'inbound', remoteAddr: '/ip4/127.0.0.1/udp/1/quic-v1', code: 'CHAIN_INVALID', elapsedMs: 1 }
const valid = (): boolean => true
const lapsed = (): boolean => false

describe('node: which auth failures earn the peer a back-off', () => {
  it('an expired chain that dialled in is backed off; one we dialled is not (it comes back once renewed)', () => {
    expect(earnsBackoff({ ...base, chainCode: 'EXPIRED', direction: 'inbound' }, valid)).to.equal(true)
    expect(earnsBackoff({ ...base, chainCode: 'EXPIRED', direction: 'outbound' }, valid)).to.equal(false)
    // Any other chain failure is backed off whoever dialled.
    expect(earnsBackoff({ ...base, chainCode: 'UNKNOWN_ISSUER', direction: 'outbound' }, valid)).to.equal(true)
  })

  it('a peer refusing our chain is backed off only while our own certificate is valid (else the fault is ours)', () => {
    const refused: AuthFailure = { ...base, code: 'REMOTE_REJECTED', remoteCode: 'CHAIN_INVALID' }
    expect(earnsBackoff(refused, valid)).to.equal(true)
    expect(earnsBackoff(refused, lapsed)).to.equal(false)
  })

  it('a closed connection and our own credential failure never do', () => {
    expect(earnsBackoff({ ...base, code: 'CLOSED' }, valid)).to.equal(false)
    expect(earnsBackoff({ ...base, code: 'LOCAL_CREDENTIALS' }, valid)).to.equal(false)
  })
})

describe('node: own certificate validity on the node clock', () => {
  it('is valid inside the leaf window only, and follows a new leaf', async () => {
    const ca = await createTestCa('own-validity')
    const first = await enroll(ca, 'own', { issuedAt: NOW, validitySeconds: 3600 })
    let credentials = first.credentials
    let now = NOW + 1_000
    const isValid = ownCertificateValidity(() => credentials, () => now)
    expect(isValid()).to.equal(true)
    now = NOW + 3601_000
    expect(isValid()).to.equal(false)
    // Renewed: the next leaf covers the clock again.
    credentials = (await enroll(ca, 'own', { issuedAt: now, validitySeconds: 3600 })).credentials
    expect(isValid()).to.equal(true)
    now = NOW - 120_000
    expect(isValid()).to.equal(false)
  })
})
