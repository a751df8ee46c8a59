import { randomBytes } from 'node:crypto'
import { expect } from 'aegir/chai'
import { encode } from 'cborg'
import { REAUTH_TRANSCRIPT_LABEL, TRANSCRIPT_LABEL } from '../../../protocols/auth/constants.ts'
import { buildTranscript } from '../../../protocols/auth/transcript.ts'
import type { AuthRole } from '../../../protocols/auth/transcript.ts'

describe('auth transcript bytes', () => {
  it('are the canonical CBOR array cborg writes, for both roles, both labels and any field sizes', () => {
    const sizes = [0, 1, 23, 24, 38, 255, 256, 300]
    for (const role of ['dialer', 'listener'] as AuthRole[]) {
      for (const label of [undefined, REAUTH_TRANSCRIPT_LABEL, 'x'.repeat(30), 'é'.repeat(20)]) {
        for (const n of sizes) {
          const t = { dialerPeerId: randomBytes(n), listenerPeerId: randomBytes(38), dialerNonce: randomBytes(32), listenerNonce: randomBytes(n) }
          const expected = encode([label ?? TRANSCRIPT_LABEL, role, t.dialerPeerId, t.listenerPeerId, t.dialerNonce, t.listenerNonce])
          const got = label == null ? buildTranscript(role, t) : buildTranscript(role, t, label)
          expect(Buffer.from(got).equals(Buffer.from(expected)), `role ${role}, label ${label ?? 'default'}, size ${n}`).to.equal(true)
        }
      }
    }
  })
})
