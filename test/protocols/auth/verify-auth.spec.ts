import { randomBytes } from 'node:crypto'
import { expect } from 'aegir/chai'
import { buildTranscript, verifyAuth } from '../../../protocols/auth/index.ts'
import { createTestCa, enroll, NOW, verifierFor } from '../../node/fixtures.ts'
import type { AuthCheckInput, TranscriptInput } from '../../../protocols/auth/index.ts'
import type { PeerIdentity } from '../../../src/node/index.ts'
import type { Enrolled, TestCa } from '../../node/fixtures.ts'

/** The pure decision, one rule at a time, with real certificates and real signatures. */
describe('auth verifyAuth (pure decision)', () => {
  let tca: TestCa
  let peer: Enrolled
  let edPeer: Enrolled
  let identity: PeerIdentity
  let t: TranscriptInput

  before(async () => {
    tca = await createTestCa('verify')
    peer = await enroll(tca, 'peer-p256')
    edPeer = await enroll(tca, 'peer-ed25519', { algorithm: 'Ed25519' })
    identity = await verifierFor(tca).verify(new Date(NOW), peer.chain)
    t = { dialerPeerId: peer.peerId.toMultihash().bytes, listenerPeerId: randomBytes(38), dialerNonce: randomBytes(32), listenerNonce: randomBytes(32) }
  })

  after(async () => { await tca.close() })

  /** A good input: the dialer's proof over its own transcript. */
  async function good (): Promise<AuthCheckInput> {
    const transcript = buildTranscript('dialer', t)
    return {
      remotePeerId: peer.peerId.toString(),
      chainLength: 3,
      chain: { identity },
      revoked: false,
      nonceSeen: false,
      transcript,
      signature: await peer.identity.sign(transcript)
    }
  }

  it('accepts a valid chain, matching PeerId, fresh nonce and good signature', async () => {
    const verdict = verifyAuth(NOW, await good())
    expect(verdict).to.deep.equal({ ok: true, identity })
  })

  it('accepts an Ed25519 identity key too', async () => {
    const edIdentity = await verifierFor(tca).verify(new Date(NOW), edPeer.chain)
    const transcript = buildTranscript('listener', t)
    const verdict = verifyAuth(NOW, { ...(await good()), remotePeerId: edPeer.peerId.toString(), chain: { identity: edIdentity }, transcript, signature: await edPeer.identity.sign(transcript) })
    expect(verdict.ok).to.equal(true)
  })

  const cases: Array<[string, (i: AuthCheckInput) => AuthCheckInput, string, string?]> = [
    ['no certificate', i => ({ ...i, chainLength: 0, chain: { code: 'NO_CERTIFICATE' } }), 'NO_CERTIFICATE'],
    ['chain refused by the PKI', i => ({ ...i, chain: { code: 'CHAIN_INVALID', chainCode: 'UNKNOWN_ISSUER' } }), 'CHAIN_INVALID', 'UNKNOWN_ISSUER'],
    ['revoked by a CRL the PKI holds', i => ({ ...i, chain: { code: 'REVOKED' } }), 'REVOKED'],
    ['not yet valid', i => ({ ...i, chain: { identity: { ...identity, notBefore: NOW + 1 } } }), 'CHAIN_INVALID', 'NOT_YET_VALID'],
    ['expired', i => ({ ...i, chain: { identity: { ...identity, notAfter: NOW - 1 } } }), 'CHAIN_INVALID', 'EXPIRED'],
    ['revoked by the node predicate', i => ({ ...i, revoked: true }), 'REVOKED'],
    ['certificate of another PeerId', i => ({ ...i, remotePeerId: '12D3KooWSomebodyElse' }), 'PEER_ID_MISMATCH'],
    ['nonce seen before', i => ({ ...i, nonceSeen: true }), 'REPLAYED_TRANSCRIPT'],
    ['signature over another transcript', i => ({ ...i, transcript: buildTranscript('dialer', { ...t, listenerNonce: randomBytes(32) }) }), 'BAD_TRANSCRIPT_SIGNATURE'],
    ['the other role\'s transcript', i => ({ ...i, transcript: buildTranscript('listener', t) }), 'BAD_TRANSCRIPT_SIGNATURE'],
    ['garbage signature', i => ({ ...i, signature: randomBytes(64) }), 'BAD_TRANSCRIPT_SIGNATURE'],
    ['revoked and mismatched: revocation is reported first', i => ({ ...i, revoked: true, remotePeerId: 'x' }), 'REVOKED']
  ]
  for (const [what, mutate, code, chainCode] of cases) {
    it(`refuses: ${what} (${code})`, async () => {
      const verdict = verifyAuth(NOW, mutate(await good()))
      expect(verdict.ok).to.equal(false)
      if (verdict.ok) { return }
      expect(verdict.code).to.equal(code)
      expect(verdict.chainCode).to.equal(chainCode)
    })
  }
})
