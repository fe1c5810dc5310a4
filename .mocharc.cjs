// Unit tests run anywhere; integration tests bring up a real local cluster (root, CRIU).
// No spec here: `npm test` names the suites (all of them by default), so `npm test -- FILE` runs
// only FILE.
module.exports = {
  'node-option': ['import=tsx'],
  extension: ['ts'],
  require: ['test/env.ts', 'test/integration/hooks.ts'],
  timeout: 120000,
  'forbid-only': true,
};
