/**
 * Errors the CLI raises itself (no configuration, orchestrator unreachable, bad usage), and the
 * one place that turns any error into the lines a person reads and an exit status.
 */
import os from 'node:os';
import { CommanderError } from '@commander-js/extra-typings';
import { GodwitError, type SignalName } from '@godwit/schemas';
import { EXIT, type ExitName } from './output.js';

export interface CliErrorOptions {
  /** which row of the exit-status table (output.ts) it ends with; ERROR unless said */
  code?: ExitName;
  /** ends as a death by this signal would (128+N): a signal we could not pass on */
  signal?: SignalName;
  details?: Record<string, unknown>;
  cause?: unknown;
}

/** 128+N, a shell's status for a death by signal N */
export function signalStatus(signal: string): number {
  return 128 + ((os.constants.signals as Record<string, number | undefined>)[signal] ?? 0);
}

export class CliError extends Error {
  readonly code: ExitName;
  readonly exitCode: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(message: string, opts: CliErrorOptions = {}) {
    super(message, { cause: opts.cause });
    this.name = 'CliError';
    this.code = opts.code ?? 'ERROR';
    this.exitCode = opts.signal ? signalStatus(opts.signal) : EXIT[this.code].status;
    this.details = opts.details;
  }
}

/** The API's answer for a program that has ended: what a late signal, input or close meets. */
export function isNotRunning(err: unknown): boolean {
  return err instanceof GodwitError && err.code === 'GODWIT_ERR_PROCESS_NOT_RUNNING';
}

/** Whether `err` is a system call's failure with one of these codes (ENOENT, ...). */
export function isErrno(err: unknown, ...codes: string[]): boolean {
  return err instanceof Error && codes.includes((err as NodeJS.ErrnoException).code ?? '');
}

export class UsageError extends CliError {
  constructor(message: string) {
    super(message, { code: 'USAGE' });
    this.name = 'UsageError';
  }
}

export interface RenderedError {
  /** what to write to stderr, '' when commander already wrote it */
  text: string;
  exitCode: number;
}

const MAX_DETAIL_LINES = 30;

function formatDetail(key: string, value: unknown): string[] {
  if (Array.isArray(value)) {
    const simple = value.every((v) => ['string', 'number', 'boolean'].includes(typeof v));
    if (simple && value.join(', ').length <= 100 && !value.some((v) => String(v).includes('\n'))) {
      return [`  ${key}: ${value.join(', ')}`];
    }
    const lines = value.flatMap((v) => (typeof v === 'string' ? v.split('\n') : [JSON.stringify(v)]));
    const shown = lines.slice(-MAX_DETAIL_LINES).map((l) => `    ${l}`);
    if (lines.length > MAX_DETAIL_LINES) shown.unshift(`    ... (${lines.length - MAX_DETAIL_LINES} lines before)`);
    return [`  ${key}:`, ...shown];
  }
  if (typeof value === 'string' && value.includes('\n')) {
    return [`  ${key}:`, ...value.split('\n').map((l) => `    ${l}`)];
  }
  if (value !== null && typeof value === 'object') return [`  ${key}: ${JSON.stringify(value)}`];
  return [`  ${key}: ${String(value)}`];
}

/** Detail lines, less those whose facts the message already gives (e.g. the list of nodes). */
function formatDetails(details: Record<string, unknown> | undefined, message: string): string[] {
  if (!details) return [];
  return Object.entries(details).flatMap(([k, v]) => {
    const lines = formatDetail(k, v);
    const value = lines.length === 1 ? lines[0]!.slice(`  ${k}: `.length) : null;
    return value && message.includes(value) ? [] : lines;
  });
}

/** Details meant for programs, never printed: the HTTP status of an agent behind the orchestrator. */
const INTERNAL_DETAILS = new Set(['agentStatus']);

/**
 * A program that could not start is said as a shell says it: its message alone ("PROG: command
 * not found") and the shell's status for it (127 not found, 126 not runnable), which the agent
 * put in the details; the other details (stage, errno, ids) are the API's.
 */
function shellStatus(err: GodwitError): number | undefined {
  const code = err.details?.exitCode;
  return err.code === 'GODWIT_ERR_LAUNCH_FAILED' && typeof code === 'number' && Number.isInteger(code) && code > 0 && code < 256 ? code : undefined;
}

const shown = (details: Record<string, unknown> | undefined) =>
  details && Object.fromEntries(Object.entries(details).filter(([k]) => !INTERNAL_DETAILS.has(k)));

/** One error → the text for stderr (`godwit: message` then detail lines) and the exit status. Never a stack. */
export function renderError(err: unknown, prog = 'godwit'): RenderedError {
  if (err instanceof CommanderError) {
    // Help and version end in a CommanderError with status 0; usage errors were already printed
    // through configureOutput (see program.ts).
    return { text: '', exitCode: err.exitCode === 0 ? EXIT.OK.status : EXIT.USAGE.status };
  }
  if (err instanceof GodwitError) {
    const status = shellStatus(err);
    if (status !== undefined) return { text: `${prog}: ${err.message}\n`, exitCode: status };
    const lines = [`${prog}: ${err.message}`, ...formatDetails(shown(err.details), err.message)];
    return { text: lines.join('\n') + '\n', exitCode: EXIT.ERROR.status };
  }
  if (err instanceof CliError) {
    const lines = [`${prog}: ${err.message}`, ...formatDetails(err.details, err.message)];
    return { text: lines.join('\n') + '\n', exitCode: err.exitCode };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { text: `${prog}: ${message}\n`, exitCode: EXIT.ERROR.status };
}
