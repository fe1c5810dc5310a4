/** `mosmigrate` / `godwit migrate`: move a process to another node, or home. */
import { Command, Option } from '@commander-js/extra-typings';
import type { Migration, Strategy } from '@godwit/schemas';
import { connect, type GodwitClient, type MoveOptions } from '../client.js';
import { CliError, UsageError } from '../errors.js';
import { processIdArg } from '../process-id.js';
import { nodeNamed } from '../node-numbers.js';
import { showProgress } from '../progress.js';
import { show } from '../output.js';
import { renderMigration } from '../views/migration.js';
import { renderWhy } from '../views/why.js';
import { sizeArg } from '../size-arg.js';

export async function migrate(client: GodwitClient, id: string, to: string, strategy?: Strategy, opts: MoveOptions = {}): Promise<Migration> {
  const m = await client.migrate(id, to, strategy, opts);
  if (m.state === 'failed') {
    throw new CliError(`moving process ${m.processId} from ${m.from} to ${m.to} failed: ${m.reason ?? 'no reason given'}`, {
      details: { migration: m.id, ...(m.code ? { code: m.code } : {}) },
    });
  }
  return m;
}

/** what mosmigrate takes in place of a node */
const VERBS = ['home', 'freeze', 'continue', 'checkpoint', 'checkstop', 'exit'] as const;

/** `to` as the orchestrator names it: 'home', or the name of the node a number, name or address names. */
function destination(client: GodwitClient, to: string, words: readonly string[]): Promise<string> {
  return to === 'home' ? Promise.resolve(to) : nodeNamed(client, to, words);
}

export function buildMigrateCommand(name: string) {
  return new Command(name)
    .description('move a running process to another node or back home, or freeze it and bring it back (MOSIX mosmigrate)')
    .argument('<id>', "the process: godwit's id or its home PID (see mosps)")
    .argument('<node>', "where to: a node's number (as `mossetpe -r` lists them), name or address, or 'home'; or 'freeze', 'continue', 'checkpoint', 'checkstop' or 'exit'")
    .argument('[target]', "with 'continue': the node to bring it back on, by number, name or address (default: its home)")
    .addOption(
      new Option('--strategy <how>', 'how its memory moves: auto picks the best the two nodes allow; a forced one they cannot do is refused before anything stops')
        .choices(['auto', 'full', 'lazy', 'precopy'] as const)
        .default('auto' as const),
    )
    .option('--carry-max <size>', "the most node-local files (in /tmp, on a local disk) this move may carry, e.g. 512M or 2G (default: the node's limit, 256M unless configured)")
    .option('--compress', "LZ4-compress its images, memory included, between the nodes (default: the cluster's compress.moves, off unless configured); with checkpoint, checkstop or exit: the checkpoint (default: as mosrun --compress chose, else the cluster's compress.checkpoints)")
    .option('--no-compress', 'send its images (or write its checkpoint) as they are, whatever the cluster sets')
    .option('--dry-run', 'say what the move would carry, how it would take the memory, and every reason it would be refused, without stopping the process')
    .option('--json', 'print the migration (or with --dry-run, the answer) as JSON')
    .addHelpText('after', [
      '',
      'Waits until it is over, then prints e.g.',
      '  process 3 moved from node0 to node1 in 412 ms (stopped 160 ms)',
      'freeze dumps the process to disk and stops it: it uses no CPU or memory until',
      "`continue` brings it back, on its home node or on the node named after it.",
      'checkpoint saves the process to its next checkpoint file (mosrun -C FILE: FILE.1, FILE.2, ...;',
      'by default ckpt.PID.N in your checkpoint directory) and lets it run on; checkstop then freezes',
      'it; exit then ends it (its mosrun says where the checkpoint is, and exits 75).',
      '`mosrun -R FILE.N` recovers it from one, on any node. A signal sent to a frozen process',
      'waits, and reaches it as it continues; SIGKILL ends it at once.',
    ].join('\n'))
    .action(async (id, node, target, opts) => {
      processIdArg(id);
      const carryMax = opts.carryMax === undefined ? undefined : sizeArg(opts.carryMax, '--carry-max');
      const checkpointing = node === 'checkpoint' || node === 'checkstop' || node === 'exit';
      if ((opts.dryRun || carryMax !== undefined || (opts.compress !== undefined && !checkpointing)) && (VERBS as readonly string[]).includes(node) && node !== 'home') {
        throw new UsageError(`--dry-run, --carry-max and --compress go with a move to a node or home${checkpointing ? '' : ' (--compress also with a checkpoint)'}, not with '${node}'`);
      }
      if (target !== undefined && node !== 'continue') {
        throw new UsageError(`too many arguments: a node after '${node}' goes only with 'continue'`);
      }
      const client = await connect();
      if (checkpointing) {
        if (target !== undefined) throw new UsageError(`too many arguments: nothing goes after '${node}'`);
        const c = await client.checkpoint(id, node === 'checkpoint' ? 'run' : node === 'checkstop' ? 'stop' : 'exit', opts.compress);
        const then = node === 'checkpoint' ? 'it runs on' : node === 'checkstop' ? 'it is frozen' : 'it has ended';
        await show(c, opts.json, (k) => `process ${k.processId} checkpointed to ${k.path} (checkpoint ${k.number}, ${k.bytes} bytes, stopped ${k.stoppedMs} ms); ${then}\n`);
        return;
      }
      // the node is found before anything starts: a typo is refused with nothing done
      let act: () => Promise<Migration>;
      if (node === 'freeze') act = () => client.freeze(id);
      else if (node === 'continue') {
        const back = target === undefined ? undefined : await destination(client, target, ['home']);
        act = () => client.continue(id, back);
      } else {
        const to = await destination(client, node, VERBS);
        if (opts.dryRun) {
          await show(await client.why(id, { to, strategy: opts.strategy, ...(carryMax === undefined ? {} : { carryMaxBytes: carryMax }) }), opts.json, renderWhy);
          return;
        }
        act = () => migrate(client, id, to, opts.strategy, { carryMaxBytes: carryMax, compress: opts.compress });
      }
      const steps = opts.json ? undefined : await client.progress(id);
      await steps?.opened;
      const shown = steps && showProgress(steps, { tty: process.stderr.isTTY === true, write: (l) => process.stderr.write(l) });
      let m: Migration;
      try {
        m = await act();
      } finally {
        steps?.close();
        await shown;
      }
      await show(m, opts.json, renderMigration);
    });
}
