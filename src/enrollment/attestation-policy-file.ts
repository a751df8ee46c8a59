import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseAttestationPolicy } from '../attestation/policy.ts'
import type { AttestationPolicy } from '../attestation/policy.ts'

/** The CA's attestation policy file, beside ca.json. Its presence turns TPM attestation on. */
export const ATTESTATION_POLICY_FILE = 'attestation-policy.json'

/** A policy is a few KiB even with many golden sets; a bigger file is the wrong file. */
const MAX_POLICY_BYTES = 256 * 1024

/**
 * Reads `DIR/attestation-policy.json`: the policy, or undefined when there is none. A file that
 * is there but invalid throws (AttestationError BAD_POLICY): the CA must not quietly run
 * without the checks its operator asked for.
 */
export async function loadAttestationPolicy (caDir: string): Promise<AttestationPolicy | undefined> {
  const path = join(caDir, ATTESTATION_POLICY_FILE)
  let bytes: Buffer
  try {
    bytes = await readFile(path)
  } catch (err: any) {
    if (err.code === 'ENOENT') { return undefined }
    throw err
  }
  if (bytes.length > MAX_POLICY_BYTES) { throw new RangeError(`${path} is larger than ${MAX_POLICY_BYTES} bytes`) }
  return parseAttestationPolicy(JSON.parse(bytes.toString('utf8')))
}
