import { expect } from 'chai';
import { buildRunCommand, type RunArgs } from '../../../cli/src/commands/run.js';
import { exitStatus, programEnv } from '../../../cli/src/session.js';
import { buildGodwitProgram } from '../../../cli/src/commands/index.js';
import { configureCommand } from '../../../cli/src/program.js';
import { renderError } from '../../../cli/src/errors.js';

/** Parses like the `mosrun` binary would, capturing the arguments instead of running anything. */
async function parse(argv: string[]): Promise<{ args: RunArgs | null; err: unknown; stderr: string }> {
  let args: RunArgs | null = null;
  let stderr = '';
  const cmd = buildRunCommand('mosrun', async (a) => {
    args = a;
  });
  configureCommand(cmd);
  cmd.configureOutput({ writeErr: (s) => (stderr += s), writeOut: () => {} });
  try {
    await cmd.parseAsync(['node', 'mosrun', ...argv]);
    return { args, err: null, stderr };
  } catch (err) {
    return { args, err, stderr };
  }
}

describe('mosrun arguments', () => {
  it('runs on the home node by default', async () => {
    const { args } = await parse(['prog']);
    expect(args).to.deep.equal({
      node: undefined, best: false, memMiB: undefined, locked: false, verbose: false, json: false, argv: ['prog'], recoverOnFailure: false,
    });
  });

  it('takes -S MAXJOBS with a commands file (batch mode), and refuses a bad count', async () => {
    expect((await parse(['-S', '2', 'jobs.txt'])).args).to.include({ batch: 2 });
    expect((await parse(['-S2', 'jobs.txt'])).args!.argv).to.deep.equal(['jobs.txt']);
    expect((await parse(['-S', '0', 'jobs.txt'])).args).to.equal(null);
  });

  it('takes -L (never moved by the balancer) and -l (the default), not both', async () => {
    expect((await parse(['-L', 'prog'])).args!.locked).to.equal(true);
    expect((await parse(['-l', 'prog'])).args!.locked).to.equal(false);
    expect((await parse(['-L', '-l', 'prog'])).args).to.equal(null);
  });

  it('takes -b (the best node now) and -m MB, glued too, and refuses -b with -r', async () => {
    expect((await parse(['-b', '-m', '1000', 'prog'])).args).to.include({ best: true, memMiB: 1000, node: undefined });
    expect((await parse(['-m1000', 'prog'])).args!.memMiB).to.equal(1000);
    const bad = await parse(['-m', 'lots', 'prog']);
    expect(bad.args).to.equal(null);
    expect(bad.stderr).to.match(/'lots' is not a whole number of megabytes/);
    const both = await parse(['-b', '-rnode1', 'prog']);
    expect(both.args).to.equal(null);
    expect(both.stderr).to.match(/cannot be used with/);
  });

  it('takes -h for the home node', async () => {
    const { args } = await parse(['-h', 'prog', 'a']);
    expect(args!.node).to.equal(undefined);
    expect(args!.argv).to.deep.equal(['prog', 'a']);
  });

  it('takes -r NODE and the glued MOSIX form -rNODE', async () => {
    expect((await parse(['-r', 'node1', 'prog'])).args!.node).to.equal('node1');
    expect((await parse(['-rnode2', 'prog'])).args!.node).to.equal('node2');
    expect((await parse(['--node', 'node3', 'prog'])).args!.node).to.equal('node3');
  });

  it('takes -v', async () => {
    const { args } = await parse(['-v', '-rnode1', 'prog']);
    expect(args!.verbose).to.equal(true);
    expect(args!.node).to.equal('node1');
  });

  it("leaves the program's own options alone, even ones mosrun also has", async () => {
    const { args } = await parse(['-v', 'ls', '-la', '-h', '-r', 'x', '--help', '--json', '-v', '--']);
    expect(args!.argv).to.deep.equal(['ls', '-la', '-h', '-r', 'x', '--help', '--json', '-v', '--']);
    expect(args!.json).to.equal(false);
  });

  it('takes a program after --', async () => {
    const { args } = await parse(['--', '-weird-name', 'x']);
    expect(args!.argv).to.deep.equal(['-weird-name', 'x']);
  });

  it('rejects -h with -r, and a missing program, as usage errors (exit 2)', async () => {
    for (const argv of [['-h', '-rnode1', 'prog'], [], ['-r']]) {
      const { args, err, stderr } = await parse(argv);
      expect(args).to.equal(null);
      const shown = renderError(err);
      expect(shown.exitCode).to.equal(2);
      // commander's own usage errors are printed as it parses; godwit's come back to be printed
      expect(stderr + shown.text).to.match(/^godwit: /);
      expect(stderr + shown.text).to.not.match(/^error:/m);
    }
  });

  it('takes MOSIX checkpoint options: -C/-N/-A to checkpoint, -R with -O to recover, -I to look', async () => {
    const run = (await parse(['-Cjob', '-N3', '-A0.5', '--recover-on-failure', 'prog'])).args!;
    expect([run.checkpoint, run.recoverOnFailure, run.argv]).to.deep.equal([{ file: 'job', max: 3, everyMinutes: 0.5 }, true, ['prog']]);
    const rec = (await parse(['-Rjob.2', '-O', '3=/tmp/a,4=b', '--accept-changed'])).args!;
    expect(rec.recover).to.deep.equal({ file: 'job.2', remap: { 3: '/tmp/a', 4: `${process.cwd()}/b` }, acceptChanged: true, rollbackFiles: false });
    expect((await parse(['-R', 'job.2', '--rollback-files'])).args!.recover!.rollbackFiles).to.equal(true);
    expect((await parse(['-I', 'job.2'])).args!.info).to.equal('job.2');
    expect((await parse(['-Cjob', '--no-compress', 'prog'])).args!.checkpoint).to.deep.equal({ file: 'job', compress: false });
    expect((await parse(['-Cjob', '--compress', 'prog'])).args!.checkpoint).to.deep.equal({ file: 'job', compress: true });
    expect((await parse(['-Cjob', 'prog'])).args!.checkpoint, 'no choice: the cluster decides').to.deep.equal({ file: 'job' });
    for (const [argv, why] of [
      [['-N3', 'prog'], /-N, -A and --compress need -C FILE/],
      [['--no-compress', 'prog'], /-N, -A and --compress need -C FILE/],
      [['-R', 'job.1', 'prog'], /-R takes no program/],
      [['-O', '3=/x', 'prog'], /-O goes only with -R/],
      [['--rollback-files', 'prog'], /--rollback-files goes only with -R/],
      [['-Cjob', '-A', 'soon', 'prog'], /'soon' is not a number of minutes/],
      [['-R', 'job.1', '-O', 'three=/x'], /'three=\/x' is not FD=FILE/],
      [['-R', 'job.1', '-O', '3=/tmp/a\n0 0 /etc/shadow'], /"3=\/tmp\/a\\n0 0 \/etc\/shadow" holds a control character \(a newline\?\)/],
      [['-R', 'job.1', '-O', `3=/${'a'.repeat(4096)}`], /the file for fd 3 is 4097 characters long: at most 4096/],
    ] as const) {
      const { args, err, stderr } = await parse([...argv]);
      expect(args, argv.join(' ')).to.equal(null);
      const shown = renderError(err);
      expect(shown.exitCode, argv.join(' ')).to.equal(2);
      expect(stderr + shown.text).to.match(why);
    }
  });

  it('rejects unknown mosrun options before the program', async () => {
    const { err, stderr } = await parse(['-x', 'prog']);
    expect(renderError(err).exitCode).to.equal(2);
    expect(stderr).to.contain("unknown option '-x'");
  });

  it('`godwit run` passes the program options through the same way', async () => {
    const program = buildGodwitProgram();
    configureCommand(program);
    let captured: string[] = [];
    const run = program.commands.find((c) => c.name() === 'run')!;
    run.action((...a: unknown[]) => {
      captured = [a[0] as string, ...(a[1] as string[])];
    });
    await program.parseAsync(['node', 'godwit', 'run', '-rnode1', 'python3', '-c', 'print(1)', '-v']);
    expect(captured).to.deep.equal(['python3', '-c', 'print(1)', '-v']);
    expect(run.opts()).to.deep.include({ node: 'node1' });
  });
});

describe('mosrun helpers', () => {
  it("passes the caller's environment without GODWIT_ variables", () => {
    const env = programEnv({ PATH: '/bin', HOME: '/root', GODWIT_TOKEN: 's3cret', GODWIT_CONFIG: '/x', X: undefined });
    expect(env).to.deep.equal({ PATH: '/bin', HOME: '/root' });
  });

  it('leaves out LD_* variables, naming them', () => {
    const said: string[] = [];
    const env = programEnv({ PATH: '/bin', LD_PRELOAD: '/tmp/evil.so', LD_LIBRARY_PATH: '/x' }, (l) => said.push(l));
    expect(env).to.deep.equal({ PATH: '/bin' });
    expect(said.join('\n')).to.contain('LD_PRELOAD, LD_LIBRARY_PATH');
  });

  it('exits with the code, or 128+N for signal N', () => {
    expect(exitStatus({ code: 7, signal: null })).to.equal(7);
    expect(exitStatus({ code: null, signal: 'SIGKILL' })).to.equal(137);
    expect(exitStatus({ code: null, signal: 'SIGTERM' })).to.equal(143);
  });
});
