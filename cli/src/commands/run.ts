/**
 * `mosrun` / `godwit run`: start a program on the cluster and stay in the foreground as its
 * stand-in: its output on our stdout/stderr, our stdin to it, our signals to it, its exit status ours.
 */
import { Command, InvalidArgumentError, Option } from '@commander-js/extra-typings';
import { FILE_PATH_MAX, type CheckpointPolicy, type Process, type RunRequest } from '@godwit/schemas';
import { connect, type GodwitClient } from '../client.js';
import { UsageError } from '../errors.js';
import { foreground, programEnv } from '../session.js';
import { consentToRollback } from '../rollback-consent.js';
import { runBatch } from './batch.js';
import { nodeNamed } from '../node-numbers.js';
import { withMosixRunFlags } from './run-mosix-flags.js';
import { exitStatusHelp, say, show } from '../output.js';
import { renderCheckpointInfo } from '../views/checkpoint.js';

export interface RunArgs {
  /** the node to start on; undefined means the home node (or the best one, with `best`) */
  node: string | undefined;
  /** MOSIX -b: the node with the most spare CPU now */
  best: boolean;
  /** MOSIX -m: only a node with this much free memory, in MiB */
  memMiB: number | undefined;
  /** MOSIX -L: never moved automatically */
  locked: boolean;
  /** an address of its own from the cluster's pool (undefined: the cluster's default) */
  ip?: boolean;
  /** MOSIX -S: argv[0] is a file of commands, run at most this many at once */
  batch?: number;
  verbose: boolean;
  json: boolean;
  /** start it and return: it runs on when this mosrun ends (no SIGHUP), its output kept at home */
  detach?: boolean;
  argv: string[];
  /** MOSIX -C FILE -N MAX -A MINUTES */
  checkpoint?: CheckpointPolicy;
  recoverOnFailure?: boolean;
  /** MOSIX -R FILE [-O fd=file,...]: recover from a checkpoint instead of starting PROGRAM */
  recover?: { file: string; remap: Record<string, string>; acceptChanged: boolean; rollbackFiles: boolean };
  /** MOSIX -I FILE: list what a checkpoint holds */
  info?: string;
}

/** MOSIX -O: "3=/new/file,4=other" (relative files are taken from the current directory) */
export function parseRemap(spec: string, cwd: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of spec.split(',').filter(Boolean)) {
    if (/[\x00-\x1f\x7f]/.test(part)) throw new InvalidArgumentError(`${JSON.stringify(part)} holds a control character (a newline?): no file given to a recovery may`);
    const m = /^([0-9]+)=(.+)$/.exec(part.trim());
    if (!m) throw new InvalidArgumentError(`'${part}' is not FD=FILE (for example 3=/tmp/other.log)`);
    const file = m[2]!.startsWith('/') ? m[2]! : `${cwd.replace(/\/$/, '')}/${m[2]!}`;
    if (file.length > FILE_PATH_MAX) throw new InvalidArgumentError(`the file for fd ${m[1]!} is ${file.length} characters long: at most ${FILE_PATH_MAX}`);
    out[m[1]!] = file;
  }
  return out;
}

const positive = (what: string) => (v: string) => {
  if (!/^[1-9][0-9]*$/.test(v)) throw new InvalidArgumentError(`'${v}' is not ${what}`);
  return Number(v);
};

export type RunAction = (args: RunArgs) => Promise<void>;

export function buildRunCommand(name: string, action: RunAction = runAction) {
  return withMosixRunFlags(new Command(name)
    .description('run a program under godwit, so that it can migrate between nodes (MOSIX mosrun)')
    .usage(
      '[-h | -r NODE | -b] [-m MB] [-L | -l] [-C FILE [-N MAX] [-A MINUTES]] [--recover-on-failure] [-v] [--json] PROGRAM [ARGS...]\n' +
        '       mosrun -S MAXJOBS [-r NODE] [-m MB] [-L] COMMANDS-FILE\n' +
        '       mosrun -R FILE [-O FD=FILE,...] [--accept-changed] [--rollback-files] [-r NODE]\n' +
        '       mosrun -I FILE',
    )
    .helpOption('--help', 'show this help')
    .addOption(new Option('-h, --home', 'start it on the home node (the default)').conflicts(['node', 'best']))
    .addOption(new Option('-r, --node <node>', "start it on NODE: its number (as `mossetpe -r` lists them), name or address (also glued: -r2, -rnode1; or MOSIX's -2, -10.77.1.11)").conflicts('best'))
    .addOption(new Option('-b, --best', 'start it on the node with the most spare CPU now'))
    .addOption(
      new Option('-m, --mem <MB>', 'only on a node with MB megabytes of free memory; refused if there is none (also glued: -m1000)').argParser((v) => {
        if (!/^[1-9][0-9]*$/.test(v)) throw new InvalidArgumentError(`'${v}' is not a whole number of megabytes`);
        return Number(v);
      }),
    )
    .addOption(new Option('-L, --locked', 'never move it automatically (the balancer leaves it; mosmigrate still moves it)').conflicts('unlocked'))
    .addOption(new Option('-l, --unlocked', 'the balancer may move it (the default)'))
    .addOption(
      new Option('-S, --batch <MAXJOBS>', 'batch mode: run every command of the file PROGRAM names (one per line, by sh -c), at most MAXJOBS at once, each on the best node then').argParser((v) => {
        if (!/^[1-9][0-9]*$/.test(v)) throw new InvalidArgumentError(`'${v}' is not a number of jobs (1 or more)`);
        return Number(v);
      }),
    )
    .option('-C, --checkpoint-file <FILE>', "checkpoints go to FILE.1, FILE.2, ... in your checkpoint directory (a name there, or a path inside it)")
    .addOption(new Option('-N, --checkpoint-max <MAX>', 'use extensions .1 to .MAX, then recycle them oldest first').argParser(positive('a number of checkpoints (1 or more)')))
    .addOption(
      new Option('-A, --checkpoint-every <MINUTES>', 'take a checkpoint automatically every MINUTES (fractions allowed, e.g. 0.5)').argParser((v) => {
        if (!/^[0-9]*\.?[0-9]+$/.test(v) || Number(v) <= 0) throw new InvalidArgumentError(`'${v}' is not a number of minutes above 0`);
        return Number(v);
      }),
    )
    .option('--compress', "with -C: LZ4-compress its checkpoints (default: the cluster's compress.checkpoints, on unless configured)")
    .option('--no-compress', 'with -C: write its checkpoints as they are, whatever the cluster sets')
    .addOption(new Option('--ip', "give it an address of its own on the cluster network, in a network namespace of its own (its servers answer there; `mosps -f` shows it)"))
    .addOption(new Option('--no-ip', "use its node's network even where the cluster gives every program an address"))
    .option('--recover-on-failure', 'if its node is lost, recover it on another node from its latest checkpoint')
    .option('-R, --recover <FILE>', 'recover the program from checkpoint FILE (e.g. myjob.3) instead of starting one; it runs in the foreground as if started here')
    .addOption(
      new Option('-O, --open-instead <FD=FILE>', "with -R: give the recovered program FILE in place of what its descriptor FD had open (MOSIX's fd remap); several: 3=a,4=b")
        .argParser((v) => parseRemap(v, process.cwd())),
    )
    .option('--accept-changed', 'with -R: go on although files it had open changed since the checkpoint')
    .option('--rollback-files', 'with -R: roll the files it was writing in its working directory back to the checkpoint without asking (needed where mosrun cannot ask: not on a terminal)')
    .option('-I, --info <FILE>', 'list the files the process of checkpoint FILE had open, with their sizes then and now')
    .option('--detach', 'print the process ID and return at once: it runs on without mosrun, its output kept on its home node (godwit attach ID)')
    .option('-v, --verbose', 'say on stderr where it started: "godwit: process ID started on NODE (pid P)"')
    .option(
      '--json',
      'write the created process as one JSON line to stderr when it starts, and the final process when it ends (stdout stays the program’s)',
    )
    .argument('[program]', 'the program to run')
    .argument('[args...]', 'its arguments, passed on untouched (dashes included)')
    .passThroughOptions()
    .addHelpText(
      'after',
      `
Stays in the foreground until the program ends, wherever it runs or moves to: its output comes
to this terminal, this terminal's input goes to it, and every signal mosrun can catch (INT, TERM,
HUP, QUIT, USR1, USR2, WINCH, ALRM, ...) is passed on to it. Ctrl-Z stops the program, then
mosrun; fg and bg continue both. Exits with the program's exit status (128+N when killed by
signal N; 127 when it is not found, 126 when it cannot be run, as a shell does), or 75
(EX_TEMPFAIL) when \`mosmigrate ID exit\` ended it after a checkpoint, which it names.
\`godwit attach ID\` is another such foreground, later or from elsewhere.

Examples:
  ${name} -v ./counter 60
  ${name} -rnode1 python3 -c 'print(42)'
  ${name} -C myjob -N 3 -A 20 ./simulate     (checkpoints myjob.1 .. myjob.3, every 20 minutes)
  ${name} -R myjob.2 -O 3=/tmp/other.log

${exitStatusHelp()}`,
    )
    .action(async (program, args, opts) => {
      const only = (flag: string, ok: boolean) => {
        if (!ok) throw new UsageError(`${flag} goes only with -R`);
      };
      only('-O', opts.openInstead === undefined || opts.recover !== undefined);
      only('--accept-changed', opts.acceptChanged === undefined || opts.recover !== undefined);
      only('--rollback-files', opts.rollbackFiles === undefined || opts.recover !== undefined);
      if (opts.recover !== undefined || opts.info !== undefined) {
        if (program !== undefined) throw new UsageError(`${opts.recover !== undefined ? '-R' : '-I'} takes no program: it comes from the checkpoint`);
        if (opts.recover !== undefined && opts.info !== undefined) throw new UsageError('-R and -I do not go together');
      } else if (program === undefined) {
        throw new UsageError('missing the program to run (or -R FILE to recover one, -I FILE to look into a checkpoint)');
      }
      if ((opts.checkpointMax !== undefined || opts.checkpointEvery !== undefined || opts.compress !== undefined) && opts.checkpointFile === undefined) {
        throw new UsageError('-N, -A and --compress need -C FILE: where the checkpoints go');
      }
      await action({
        ...(opts.checkpointFile !== undefined
          ? {
              checkpoint: {
                file: opts.checkpointFile,
                ...(opts.checkpointMax !== undefined ? { max: opts.checkpointMax } : {}),
                ...(opts.checkpointEvery !== undefined ? { everyMinutes: opts.checkpointEvery } : {}),
                ...(opts.compress !== undefined ? { compress: opts.compress } : {}),
              },
            }
          : {}),
        recoverOnFailure: opts.recoverOnFailure ?? false,
        ...(opts.recover !== undefined
          ? { recover: { file: opts.recover, remap: opts.openInstead ?? {}, acceptChanged: opts.acceptChanged ?? false, rollbackFiles: opts.rollbackFiles ?? false } }
          : {}),
        ...(opts.info !== undefined ? { info: opts.info } : {}),
        node: opts.node,
        best: opts.best ?? false,
        memMiB: opts.mem,
        locked: opts.locked ?? false,
        ...(opts.ip !== undefined ? { ip: opts.ip } : {}),
        ...(opts.batch !== undefined ? { batch: opts.batch } : {}),
        verbose: opts.verbose ?? false,
        json: opts.json ?? false,
        ...(opts.detach ? { detach: true } : {}),
        argv: program === undefined ? [] : [program, ...args],
      });
    }));
}

async function runAction(args: RunArgs): Promise<void> {
  if (args.info !== undefined) {
    const info = await (await connect()).checkpointInfo(args.info);
    await show(info, args.json, renderCheckpointInfo);
    return;
  }
  const client = await connect();
  // -rN, -rNAME, -rADDRESS, -N: the orchestrator knows nodes by name
  const on = { ...args, node: args.node === undefined ? undefined : await nodeNamed(client, args.node) };
  if (on.batch !== undefined) {
    if (on.argv.length !== 1) throw new UsageError('mosrun -S takes one commands file (one command per line), nothing after it');
    process.exitCode = await runBatch(client, on, on.batch, on.argv[0]!);
    return;
  }
  process.exitCode = await runForeground(client, on);
}

export async function runForeground(client: GodwitClient, args: RunArgs): Promise<number> {
  const common = {
    homeNode: client.config.homeNode,
    // its life follows this mosrun's: SIGHUP once it is gone (unless detached)
    ...(args.detach ? {} : { attached: true }),
    ...(args.checkpoint ? { checkpoint: args.checkpoint } : {}),
    ...(args.recoverOnFailure ? { recoverOnFailure: true } : {}),
  };
  let proc: Process;
  if (args.recover) {
    await consentToRollback(client, args.recover.file, args.recover.rollbackFiles);
    proc = await client.recover({
      file: args.recover.file,
      node: args.node ?? client.config.homeNode,
      remap: args.recover.remap,
      acceptChanged: args.recover.acceptChanged,
      ...common,
    });
  } else {
    const req: RunRequest = {
      argv: args.argv,
      cwd: process.cwd(),
      env: programEnv(process.env),
      ...(args.best ? { best: true } : { node: args.node ?? client.config.homeNode }),
      ...(args.memMiB !== undefined ? { memMiB: args.memMiB } : {}),
      ...(args.locked ? { locked: true } : {}),
      ...(args.ip !== undefined ? { ip: args.ip } : {}),
      ...common,
    };
    proc = await client.run(req);
  }
  if (args.json) process.stderr.write(JSON.stringify(proc) + '\n');
  else if (args.verbose) say(`process ${proc.id} ${args.recover ? `recovered from ${args.recover.file}` : 'started'} on ${proc.node} (pid ${proc.origPid ?? proc.pid ?? '?'})`);
  if (args.detach) {
    if (!args.json) process.stdout.write(`${proc.id}\n`);
    return 0;
  }

  const status = await foreground(client, proc.id, { from: 0, inputOnlyIfReadable: false });
  if (args.json) {
    const last = await client.getProcess(proc.id).catch((err: unknown) => {
      say(`could not read the last state of process ${proc.id}: ${(err as Error).message}`);
      return null;
    });
    if (last) process.stderr.write(JSON.stringify(last) + '\n');
  }
  return status;
}
