/** What `cluster up` and `down` check before they act: the caller, the options, the build. */
import fs from 'node:fs';
import { CliError, UsageError } from '../errors.js';

export function envNumber(name: string, env: NodeJS.ProcessEnv = process.env): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`${name}=${v} is not a number`);
  return n;
}

export function validate(opts: { nodes: number; id: number; cpus: number; memMiB: number }): void {
  if (!Number.isInteger(opts.id) || opts.id < 1 || opts.id > 200) throw new UsageError(`cluster id must be 1..200, not ${opts.id}`);
  if (!Number.isInteger(opts.nodes) || opts.nodes < 1 || opts.nodes > 64) throw new UsageError(`nodes must be 1..64, not ${opts.nodes}`);
  if (!(opts.cpus > 0) || opts.cpus > 1024) throw new UsageError(`cpus per node must be a positive number, not ${opts.cpus}`);
  if (!Number.isInteger(opts.memMiB) || opts.memMiB < 16) throw new UsageError(`memory per node must be at least 16 MiB, not ${opts.memMiB}`);
}

export function requireRoot(what: string): void {
  if (process.getuid?.() !== 0) {
    throw new CliError(`${what} needs root (network namespaces, control groups, CRIU): run it with sudo`);
  }
}

export function requireFile(file: string, hint: string): void {
  if (!fs.existsSync(file)) throw new CliError(`${file} is missing: ${hint}`);
}
