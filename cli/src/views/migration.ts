/** A migration's result as mosmigrate says it. */
import type { Migration } from '@godwit/schemas';
import { formatBytes, formatSeconds } from './format.js';

export function renderMigration(m: Migration): string {
  if (m.state === 'frozen') {
    return `process ${m.processId} is frozen on ${m.from} (image ${m.bytes === null ? '?' : formatBytes(m.bytes)}); \`mosmigrate ${m.processId} continue [NODE]\` brings it back\n`;
  }
  const stopped = m.stoppedMs === null ? '' : ` (stopped ${m.stoppedMs} ms)`;
  if (m.strategy === 'freeze') {
    const from = m.from === m.to ? '' : `, its image brought from ${m.from}`;
    const frozenFor = m.frozenForMs == null ? '' : `${from ? ',' : ''} after ${formatSeconds(m.frozenForMs)} frozen`;
    return `process ${m.processId} continues on ${m.to}${from}${frozenFor}${stopped}\n`;
  }
  const total = m.totalMs ?? (m.endedAt !== null ? m.endedAt - m.startedAt : null);
  const lazily = m.strategy === 'lazy' ? ' lazily' : '';
  const line = `process ${m.processId} moved${lazily} from ${m.from} to ${m.to}${total === null ? '' : ` in ${total} ms`}${stopped}\n`;
  if (m.strategy !== 'lazy' || m.bytesBeforeResume === null) return line;
  const followed = (m.onDemandBytes ?? 0) + (m.backgroundBytes ?? 0);
  return `${line}  ${formatBytes(m.bytesBeforeResume)} copied before it ran again; ${formatBytes(followed)} of memory followed (${formatBytes(m.onDemandBytes ?? 0)} on demand, ${formatBytes(m.backgroundBytes ?? 0)} in the background)\n`;
}
