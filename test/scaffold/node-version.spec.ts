import { expect } from 'aegir/chai'

describe('runtime', () => {
  it('runs the suite on Node >= 22, which libp2p 3 needs', () => {
    expect(Number(process.versions.node.split('.')[0])).to.be.at.least(22)
  })
})
