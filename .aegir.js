/** aegir configuration: node-only project, tests run straight from TypeScript. */
export default {
  build: {
    bundle: false
  },
  test: {
    target: ['node'],
    // Suites that start real servers, QUIC links or a software TPM need more than mocha's 2 s.
    timeout: 120000,
    // Run every suite and report every failure, rather than stopping at the first one.
    bail: false
  },
  dependencyCheck: {
    ignore: ['node']
  }
}
