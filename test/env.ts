/**
 * Loaded before any test file. Ink (mosmon) draws only its last frame when it believes it runs
 * under CI (is-in-ci, read once when Ink loads), and the tests watch it draw each frame.
 */
process.env.CI = '0';
process.env.CONTINUOUS_INTEGRATION = '0';
