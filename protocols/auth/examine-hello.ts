import { verifierRefusal } from './connection-auth.ts'
import type { AuthContext } from './auth-context.ts'
import type { PeerHello } from './exchange.ts'
import type { AuthCheckInput } from './verify-auth.ts'

/**
 * Gathers what `verifyAuth` needs about a hello, for the first exchange and re-auth alike: the
 * PKI's answer, revocation, replay.
 */
export async function examineHello (ctx: AuthContext, hello: PeerHello, remotePeerId: string): Promise<Omit<AuthCheckInput, 'transcript' | 'signature'>> {
  const now = ctx.now()
  const nonceSeen = ctx.replay.checkAndAdd(hello.nonce, now)
  let chain: AuthCheckInput['chain'] = { code: 'NO_CERTIFICATE' }
  let revoked = false
  if (hello.chain.length > 0) {
    try {
      chain = { identity: await ctx.init.verifier.verify(new Date(now), hello.chain) }
    } catch (err: any) {
      chain = verifierRefusal(err)
    }
  }
  if ('identity' in chain && ctx.init.isRevoked != null) {
    try {
      revoked = ctx.init.isRevoked(chain.identity)
    } catch {
      revoked = true // fail closed: a broken revocation check admits nobody
    }
  }
  return { remotePeerId, chainLength: hello.chain.length, chain, revoked, nonceSeen }
}
