import { expect } from 'aegir/chai'
import { wireChain } from '../../../protocols/auth/wire-chain.ts'
import { parseCertificate } from '../../../src/pki/certificate.ts'
import { createTestCa, enroll, NOW, verifierFor } from '../../node/fixtures.ts'
import type { TestCa } from '../../node/fixtures.ts'

describe('auth: the chain a hello carries (wire-chain.ts)', () => {
  let tca: TestCa

  before(async () => { tca = await createTestCa('wire-chain') })
  after(async () => { await tca.close() })

  it('leaves out the self-signed root, and the peer still builds the path to its own copy of it', async () => {
    const node = await enroll(tca, 'wire-a')
    const last = parseCertificate(node.chain[node.chain.length - 1])
    expect(last.selfIssued, 'the fixture chain ends with the root').to.equal(true)
    const sent = wireChain(node.chain)
    expect(sent).to.deep.equal(node.chain.slice(0, -1))
    expect(sent.every(der => !parseCertificate(der).selfIssued)).to.equal(true)
    const identity = await verifierFor(tca).verify(new Date(NOW), sent)
    expect(identity.nodeId).to.equal('wire-a')
    // computed once per chain array
    expect(wireChain(node.chain)).to.equal(sent)
  })

  it('keeps a chain without a root as it is, and never sends an empty chain', async () => {
    const node = await enroll(tca, 'wire-b')
    const noRoot = node.chain.slice(0, -1)
    expect(wireChain(noRoot)).to.equal(noRoot)
    const rootOnly = [tca.root]
    expect(wireChain(rootOnly)).to.equal(rootOnly)
  })

  it('keeps a last certificate it cannot parse: judging it is the peer verifier\'s work', () => {
    const node = [new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]), new Uint8Array([0x30, 0x00])]
    expect(wireChain(node)).to.equal(node)
  })
})
