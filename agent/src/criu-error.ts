/**
 * The one error of a CRIU run that failed: what ran, how it ended, how long it took and what
 * its log says, in one value, as execa's error carries them for any program. criu.ts turns it
 * into the GodwitError a user reads, keeping it as the cause for whoever logs the whole story.
 */
import { GodwitError, type ErrorCode } from '@godwit/schemas';
import type { CriuLogSummary } from './criu-log.js';

export interface CriuRunEnd {
  /** null when CRIU did not exit by itself (a signal, a timeout, a cancel) */
  exitCode: number | null;
  /** the signal that ended it, if one did */
  signal?: string | null;
  /** how long it ran; undefined where another program (the keeper) ran it */
  durationMs?: number;
  timedOut?: boolean;
  /** ended because the caller's AbortSignal fired */
  canceled?: boolean;
  stderr?: string;
}

export class CriuError extends Error {
  /** the CRIU command that failed: dump, restore, lazy-pages, page-server, check */
  readonly phase: string;
  /** program first */
  readonly argv: readonly string[];
  readonly imagesDir: string | undefined;
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly durationMs: number | undefined;
  readonly timedOut: boolean;
  readonly canceled: boolean;
  /** the error texts of CRIU's log, most specific first */
  readonly reasons: readonly string[];
  /** the log's error lines with their context */
  readonly logExcerpt: readonly string[];
  /** what explains the failure best: the log's reasons, else stderr, else how it ended */
  readonly reason: string;

  constructor(argv: readonly string[], imagesDir: string | undefined, end: CriuRunEnd, log: CriuLogSummary) {
    const phase = argv[1] ?? 'run';
    const reason = log.reasons.join('; ') || end.stderr?.trim() || CriuError.howItEnded(phase, end);
    super(`${argv.join(' ')} failed: ${reason}`);
    this.name = 'CriuError';
    this.phase = phase;
    this.argv = argv;
    this.imagesDir = imagesDir;
    this.exitCode = end.exitCode;
    this.signal = end.signal ?? null;
    this.durationMs = end.durationMs;
    this.timedOut = end.timedOut === true;
    this.canceled = end.canceled === true;
    this.reasons = log.reasons;
    this.logExcerpt = log.excerpt;
    this.reason = reason;
  }

  private static howItEnded(phase: string, end: CriuRunEnd): string {
    if (end.canceled) return `criu ${phase} was canceled`;
    if (end.timedOut) return `criu ${phase} timed out after ${end.durationMs} ms`;
    if (end.signal) return `criu ${phase} was killed by ${end.signal}`;
    return `criu ${phase} exited with status ${end.exitCode}`;
  }

  /**
   * The error the agent answers with: `message` gets the reason; details carry the phase the
   * API names ('dump' or 'restore'), the images and the log's excerpt.
   */
  toGodwitError(code: ErrorCode, message: (reason: string) => string, phase: 'dump' | 'restore' | 'transfer'): GodwitError {
    return new GodwitError(code, message(this.reason), { phase, imagesDir: this.imagesDir, exitCode: this.exitCode, criuLog: this.logExcerpt }, { cause: this });
  }
}
