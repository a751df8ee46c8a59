/**
 * What every topic validator shares before its own checks. Each topic has a bounded code set in
 * which every code always carries the same action, so a refusal is built from the code alone, and
 * a log line or metric of the code says what happened to the relay.
 */

/** A message a validator did not accept, with its bounded code. */
export interface Refusal<C extends string> {
  action: 'reject' | 'ignore'
  code: C
}

/** The refusal `code` stands for in the topic's code-to-action table. */
export function refusal<C extends string> (actions: Readonly<Record<C, 'reject' | 'ignore'>>, code: C): Refusal<C> {
  return { action: actions[code], code }
}

/**
 * The first check of every topic validator: the relay (propagation source) is still an
 * authenticated member. Refused as RELAY_NOT_MEMBER (ignore) otherwise, so messages a revoked or
 * departing peer had already queued are dropped without scoring it: it is being expelled anyway.
 * Without an `isMember` lookup every relay counts as a member.
 */
export function relayIsMember (isMember: ((peerId: string) => boolean) | undefined, from: string): boolean {
  return isMember == null || isMember(from)
}
