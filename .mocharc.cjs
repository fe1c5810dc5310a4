// Unit tests run anywhere; integration tests bring up a real local cluster (root, CRIU).
module.exports = {
  'node-option': ['import=tsx'],
  extension: ['ts'],
  spec: ['test/unit/**/*.test.ts', 'test/integration/**/*.test.ts'],
  timeout: 120000,
  'forbid-only': true,
};
