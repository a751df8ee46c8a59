import 'reflect-metadata'
import * as x509 from '@peculiar/x509'
import { ATTESTED_DEVICE_OID, encodeAttestedDevice } from '../pki/attested-extension.ts'
import type { AttestedDevice } from '../pki/attested-extension.ts'

/** The attested-device extension (src/pki/attested-extension.ts), non-critical, for a node leaf. */
export function attestedDeviceExtension (v: AttestedDevice): x509.Extension {
  return new x509.Extension(ATTESTED_DEVICE_OID, false, Uint8Array.from(encodeAttestedDevice(v)))
}
