/**
 * A simulated cluster on one machine, as `godwit cluster up|down|status` and the tests use it:
 * what other modules may call, gathered from the modules that do each part.
 */
export { envNumber } from './checks.js';
export { restartComponent, stopComponent, type ComponentOptions } from './components.js';
export { clusterDown, type DownOptions, type DownReport } from './down.js';
export { AGENT_PORT, names, ORCHESTRATOR_PORT } from './names.js';
export type { ClusterState } from './state.js';
export { clusterStatus, type StatusReport } from './status.js';
export { clusterUp, homeIsDefault, setHolder, usageText, type ClusterInfo, type UpOptions } from './up.js';
