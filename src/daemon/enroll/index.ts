/** The node side of enrollment: what `dadm-mesh node enroll` runs against a CA service. */
export { enrollNode, NodeEnrollError } from './enroll-node.ts'
export { enrollmentEvidence, fetchEnrollChallenge } from './node-attest.ts'
export { createHostKey, loadHostKey } from '../../identity/host-key.ts'
export { nodePaths, readNodeFile } from './node-files.ts'
export type { NodeFile } from './node-files.ts'
