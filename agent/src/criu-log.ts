/**
 * Pulls the reasons out of a CRIU log: each "Error (file:line): text" with the lines before it,
 * as runc does. Lines CRIU prints on every run here and that never explain a failure are skipped.
 */
import { readFile } from 'node:fs/promises';
import { hasCode } from './expected-errors.js';

const NOISE = [
  /rlimit: Can't setup RLIMIT_NOFILE/,
  /^(Dumping|Restoring) FAILED\.?$/,
  /Could not process rule: No such file or directory/,
  // the restore's cgroup helper, after a restored task died of the real error
  /cg: cgroupd: recv req error/,
];
const CONTEXT = 5;

export interface CriuLogSummary {
  /** the error texts, most specific first */
  reasons: string[];
  /** each error line with a few lines of context, for details */
  excerpt: string[];
}

export function summarizeCriuLog(text: string): CriuLogSummary {
  const lines = text.split('\n');
  const reasons: string[] = [];
  const excerpt: string[] = [];
  lines.forEach((line, i) => {
    // "(time) PID: Error (file:line): text"; a restored task's lines may lack the time
    const m = /^\s*(?:\(\s*[\d.]+\)\s+)?(?:\d+:\s+)?Error \([^)]*\):\s*(.*)$/.exec(line);
    if (!m) return;
    const text = m[1]!.trim();
    if (NOISE.some((re) => re.test(text))) return;
    reasons.push(text);
    excerpt.push(...lines.slice(Math.max(0, i - CONTEXT), i + 1), '--');
  });
  return { reasons: [...new Set(reasons)], excerpt: excerpt.slice(0, 200) };
}

/**
 * What a CRIU that ended said last: its errors, else its last line (`criu lazy-pages` that cannot
 * reach its page server says so at info level, and exits). Undefined for an empty log.
 */
export function lastWords(text: string): string | undefined {
  const { reasons } = summarizeCriuLog(text);
  if (reasons.length) return reasons.join('; ');
  const last = text.trimEnd().split('\n').at(-1)?.replace(/^\s*\(\s*[\d.]+\)\s+/, '').trim();
  return last || undefined;
}

/**
 * The log at `path` summed up. A CRIU that failed before it opened its log left none: nothing
 * to say. A log that cannot be read says why in the excerpt, as the failure it explains matters more.
 */
export async function readCriuLog(path: string): Promise<CriuLogSummary> {
  try {
    return summarizeCriuLog(await readFile(path, 'utf8'));
  } catch (err) {
    if (hasCode(err, ['ENOENT'])) return { reasons: [], excerpt: [] };
    return { reasons: [], excerpt: [`${path} could not be read: ${(err as Error).message}`] };
  }
}
