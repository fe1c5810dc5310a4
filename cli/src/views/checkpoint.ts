/** What a checkpoint holds (mosrun -I), and its files' sizes then and now. */
import type { CheckpointInfo } from '@godwit/schemas';

/** a checkpointed file's size at the checkpoint and now, as mosrun -I and -R say it */
export function sizesThenAndNow(f: CheckpointInfo['files'][number]): string {
  const now = f.sizeNow === null ? 'gone now, out of its owner\'s reach, or a symbolic link' : f.sizeNow === f.size ? 'unchanged' : `${f.sizeNow} bytes now`;
  return `${f.size} bytes then, ${now}`;
}

/** MOSIX mosrun -I: the files a checkpointed process had open, then and now. */
export function renderCheckpointInfo(info: CheckpointInfo): string {
  const when = new Date(info.takenAt).toISOString();
  const lines = [
    `checkpoint ${info.path}: process ${info.processId} (${info.argv.join(' ')}), taken on ${info.node} at ${when}, in ${info.cwd}`,
    info.plainBytes === info.bytes
      ? `size: ${info.bytes} bytes, not compressed`
      : `size: ${info.bytes} bytes, compressed from ${info.plainBytes} (ratio ${info.compressionRatio.toFixed(2)})`,
    "Standard Input (0), Output (1), Error (2): godwit's pipes (they reconnect to whoever recovers it)",
  ];
  const mode = { r: 'Read', w: 'Write', rw: 'Read-Write' } as const;
  for (const f of info.files) {
    const note = f.carried
      ? ` (node-local: stored with the checkpoint, put back at ${f.path} on the node that recovers it)`
      : f.saved ? ' (saved with the checkpoint: comes back with -R)' : f.sizeNow !== f.size ? ' (changed: -R needs -O or --accept-changed)' : '';
    lines.push(`File-Descriptor #${f.fd}${f.pid > 2 ? ` of pid ${f.pid}` : ''}: ${f.path}, offset=${f.offset}, ${mode[f.mode]}${f.append ? ', Append' : ''}, ${sizesThenAndNow(f)}${note}`);
  }
  return `${lines.join('\n')}\n`;
}
