import { NodeRuntimeError } from './errors.ts'
import type { NodeLifecycle } from '../lifecycle/node-lifecycle.ts'

/**
 * A node back from a long time offline renews its expired certificate before it joins
 * (`/v1/renew`, proof of possession of its key). Until then it is not on the mesh, and
 * what it sends waits in its stores. Only a new enrollment helps past the renewal window.
 */
export async function renewIfExpired (lifecycle: NodeLifecycle, maxWaitMs: number | undefined): Promise<void> {
  try {
    await lifecycle.renewIfExpired(maxWaitMs != null ? { maxWaitMs } : {})
  } catch (err: any) {
    if (err?.code === 'REENROLL_REQUIRED') {
      throw new NodeRuntimeError('REENROLL_REQUIRED', `the certificate expired and the CA will not renew it (${String(err.serverCode)}): enroll again with a new token (\`dadm-mesh node enroll\`)`, { cause: err })
    }
    throw new NodeRuntimeError('CERT_INVALID', `the certificate expired and could not be renewed: ${String(err?.message)}`, { cause: err })
  }
}
