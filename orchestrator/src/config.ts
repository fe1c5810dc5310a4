/** The orchestrator's configuration: read once at start, checked against its schema, then frozen. */
import { readFileSync } from 'node:fs';
import Value from 'typebox/value';
import { DEFAULT_LIMITS, type Limits, ORCHESTRATOR_CN, OrchestratorConfig } from '@godwit/schemas';
import { missingTlsMessage } from '@godwit/schemas/tls';
import { addressRangeProblems } from './address-pool.js';

export const DEFAULT_NODE_TIMEOUT_MS = 5000;
export const DEFAULT_OUTPUT_LIMIT_BYTES = 8 * 1024 * 1024;
export const DEFAULT_NODE_LOST_MS = 30_000;

export interface Config extends OrchestratorConfig {
  readonly nodeTimeoutMs: number;
  readonly outputLimitBytes: number;
  readonly nodeLostMs: number;
  readonly limits: Readonly<Limits>;
  readonly compress: { readonly checkpoints: boolean; readonly moves: boolean };
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Checks a parsed configuration, fills defaults and freezes it; throws ConfigError naming each bad field. */
export function checkConfig(raw: unknown, source = 'configuration'): Readonly<Config> {
  if (raw !== null && typeof raw === 'object' && !('tls' in raw)) throw new ConfigError(missingTlsMessage(source));
  if (!Value.Check(OrchestratorConfig, raw)) {
    const problems = [...Value.Errors(OrchestratorConfig, raw)].map((e) => `${e.instancePath || '/'} ${e.message}`);
    throw new ConfigError(`${source} is not a valid orchestrator configuration: ${problems.join('; ')}`);
  }
  const cfg = raw as OrchestratorConfig;
  if (cfg.nodes.length === 0) throw new ConfigError(`${source}: /nodes lists no node`);
  const names = new Set<string>();
  for (const n of cfg.nodes) {
    if (names.has(n.name)) throw new ConfigError(`${source}: node ${n.name} is listed twice in /nodes`);
    if (n.name === ORCHESTRATOR_CN) throw new ConfigError(`${source}: a node may not be named ${ORCHESTRATOR_CN}, the name in the orchestrator's certificate: give it another`);
    names.add(n.name);
  }
  const tokens = new Set<string>();
  for (const t of [...cfg.users.map((u) => u.token), ...cfg.nodes.map((n) => n.token)]) {
    if (tokens.has(t)) throw new ConfigError(`${source}: a token is used twice (users and nodes need distinct tokens)`);
    tokens.add(t);
  }
  if (cfg.addresses) {
    const problems = addressRangeProblems(cfg.addresses, cfg.nodes.map((n) => new URL(n.url).hostname));
    if (problems.length) throw new ConfigError(`${source}: ${problems.join('; ')}`);
  }
  return deepFreeze({
    ...cfg,
    nodeTimeoutMs: cfg.nodeTimeoutMs ?? DEFAULT_NODE_TIMEOUT_MS,
    outputLimitBytes: cfg.outputLimitBytes ?? DEFAULT_OUTPUT_LIMIT_BYTES,
    nodeLostMs: cfg.nodeLostMs ?? DEFAULT_NODE_LOST_MS,
    limits: { ...DEFAULT_LIMITS, ...cfg.limits },
    compress: { checkpoints: cfg.compress?.checkpoints ?? true, moves: cfg.compress?.moves ?? false },
  });
}

/** the Unix account a user's programs run as on the nodes: the configured one, else the user's name */
export function accountOf(config: Readonly<OrchestratorConfig>, user: string): string {
  return config.users.find((u) => u.name === user)?.account ?? user;
}

export function loadConfig(file: string): Readonly<Config> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read configuration ${file}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`configuration ${file} is not JSON: ${(err as Error).message}`);
  }
  return checkConfig(raw, `configuration ${file}`);
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
