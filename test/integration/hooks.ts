/** Mocha root hooks: the shared cluster goes away after the last test, even when tests failed. */
import { teardown } from './harness.js';

export const mochaHooks = {
  async afterAll(this: Mocha.Context) {
    this.timeout(120_000);
    await teardown();
  },
};
