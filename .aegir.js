/** aegir configuration: node-only project, tests run straight from TypeScript. */
export default {
  build: {
    bundle: false
  },
  test: {
    target: ['node'],
    // Suites that start real servers, QUIC links or a software TPM need more than mocha's 2 s.
    timeout: 120000
  },
  dependencyCheck: {
    ignore: ['node']
  }
}
