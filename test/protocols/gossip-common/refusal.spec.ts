import { expect } from 'aegir/chai'
import { refusal, relayIsMember } from '../../../protocols/gossip-common/refusal.ts'

describe('gossip-common: validator prologue', function () {
  it('builds a refusal from its code alone, with the action the topic table gives it', () => {
    const actions = { RELAY_NOT_MEMBER: 'ignore', MALFORMED: 'reject' } as const
    expect(refusal(actions, 'RELAY_NOT_MEMBER')).to.deep.equal({ action: 'ignore', code: 'RELAY_NOT_MEMBER' })
    expect(refusal(actions, 'MALFORMED')).to.deep.equal({ action: 'reject', code: 'MALFORMED' })
  })

  it('counts every relay as a member without a lookup, and asks the lookup otherwise', () => {
    expect(relayIsMember(undefined, 'peer-x')).to.equal(true)
    expect(relayIsMember((p) => p === 'peer-in', 'peer-in')).to.equal(true)
    expect(relayIsMember((p) => p === 'peer-in', 'peer-out')).to.equal(false)
  })
})
