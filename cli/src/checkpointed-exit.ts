/**
 * A program that `mosmigrate ID exit` ended after its checkpoint did not crash: its foreground
 * mosrun says where the checkpoint is and how to bring it back, and exits with EX_TEMPFAIL
 * (sysexits.h: try again later), a status no signal death (128+N) and no usage error (2) gives.
 */
import { EXIT } from './output.js';
import { commandLine } from './views/format.js';

/** the line mosrun says on stderr when the program it follows ended after checkpoint `file` */
export function checkpointedMessage(id: number, file: string): string {
  return `process ${id} was checkpointed to ${file} and ended there, as asked (mosmigrate ${id} exit); \`${commandLine(['mosrun', '-R', file], Infinity)}\` brings it back`;
}

export function checkpointedExit(id: number, file: string, say: (line: string) => void): number {
  say(checkpointedMessage(id, file));
  return EXIT.CHECKPOINTED.status;
}
