/** mosmon's screen as a person drives it: keys switch views, q quits, it follows the orchestrator going away and coming back. */
import path from 'node:path';
import { expect } from 'chai';
import { execa } from 'execa';
import { createElement } from 'react';
import { render } from 'ink-testing-library';
import type { Node, Process } from '@godwit/schemas';
import { Monitor } from '../../../cli/src/monitor/app.js';
import type { ClusterReader } from '../../../cli/src/monitor/watch.js';

const GIB = 2 ** 30;

function node(name: string, over: Partial<Node> = {}): Node {
  return {
    name, url: `http://${name}:7701`, state: 'online', lastSeen: 1, features: null, platform: null, drained: false,
    load: { at: 1, cpuCapacity: 1, cpuUsed: 0.25, memTotalBytes: 4 * GIB, memFreeBytes: 2 * GIB, running: 1 }, ...over,
  };
}

/** A client whose orchestrator can be made to go away. */
function fakeClient() {
  const c = {
    down: false,
    nodes: [node('node0'), node('node1', { drained: true })],
    processes: [] as Process[],
    async listNodes() {
      if (c.down) throw new Error('cannot reach the orchestrator at http://o:7700 (ECONNREFUSED)');
      return c.nodes;
    },
    async listProcesses() {
      return c.processes;
    },
  };
  return c satisfies ClusterReader;
}

/** Waits until the last frame matches; the failure shows the frame. */
async function until(frame: () => string | undefined, re: RegExp, timeoutMs = 3_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const f = frame() ?? '';
    if (re.test(f)) return f;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${re} on the screen:\n${f}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('mosmon screen', () => {
  let app: ReturnType<typeof render> | undefined;
  afterEach(() => app?.unmount());

  it('switches views with l f m d h and follows the orchestrator going away and back', async () => {
    const client = fakeClient();
    app = render(createElement(Monitor, { client, where: 'the orchestrator at http://o:7700', intervalMs: 20 }));
    const frame = app.lastFrame;
    await until(frame, /node0\s+\[#+\.+\]\s+0\.25\/1 CPU/);
    app.stdin.write('m');
    await until(frame, /memory \(used \/ total\)[\s\S]*node0\s+\[#+\.+\]\s+2\.0 GiB\/4\.0 GiB used/);
    app.stdin.write('f');
    await until(frame, /frozen processes and free memory[\s\S]*node0\s+\[\.+\]\s+0 frozen\s+2\.0 GiB free/);
    app.stdin.write('d');
    await until(frame, /dead and drained nodes[\s\S]*node1\s+drained/);
    expect(frame()).to.not.match(/^node0/m);
    app.stdin.write('h');
    await until(frame, /q\s+quit/);
    app.stdin.write('x');
    app.stdin.write('l');
    await until(frame, /CPU load/);

    client.down = true;
    await until(frame, /orchestrator unreachable: cannot reach the orchestrator at http:\/\/o:7700 \(ECONNREFUSED\)/);
    expect(frame(), 'the last figures stay on the screen').to.match(/node0\s+\[#+/);
    client.down = false;
    client.nodes = [node('node0'), node('node1', { state: 'offline' })];
    await until(frame, /node1\s+\[ +\]\s+no current figures\s+offline/);
    expect(frame()).to.not.match(/unreachable/);
  });

  it('redraws at the new size when the terminal is resized', async () => {
    app = render(createElement(Monitor, { client: fakeClient(), where: 'the orchestrator at http://o:7700', intervalMs: 20 }));
    const before = await until(app.lastFrame, /node0\s+\[/);
    const width = (f: string) => /node0\s+(\[[#.]+\])/.exec(f)?.[1]?.length ?? 0;
    Object.defineProperty(app.stdout, 'columns', { get: () => 60 });
    app.stdout.emit('resize');
    const after = await until(app.lastFrame, /node0/);
    expect(width(after), `before:\n${before}\nafter:\n${after}`).to.be.lessThan(width(before));
    for (const l of after.split('\n')) expect(l.length, l).to.be.at.most(60);
  });

  it('quits on q', async () => {
    app = render(createElement(Monitor, { client: fakeClient(), where: 'the orchestrator at http://o:7700', intervalMs: 20 }));
    await until(app.lastFrame, /node0/);
    app.stdin.write('q');
    const frames = app.frames.length;
    // an absence can only be watched for a while: 5 reading intervals, each of which would draw a frame
    await new Promise((r) => setTimeout(r, 100));
    expect(app.frames.length, 'no frame after quitting').to.equal(frames);
  });
});

describe('mosmon command', function () {
  this.timeout(30_000);
  const mosmon = (args: string[]) =>
    execa(process.execPath, ['--import', import.meta.resolve('tsx'), path.resolve(import.meta.dirname, '../../../cli/src/bin/mosmon.ts'), ...args], {
      reject: false,
      stdin: 'ignore',
    });

  it('refuses to draw off a terminal, and a bad interval or view, exit 2', async () => {
    const off = await mosmon([]);
    expect(off.stderr).to.match(/^godwit: mosmon draws on a terminal .*`godwit nodes`/);
    expect(off.exitCode).to.equal(2);
    const interval = await mosmon(['--interval', '0']);
    expect(interval.stderr).to.match(/^godwit: option '-t, --interval <seconds>' argument '0' is invalid\. it must be a number of seconds from 0\.1 to 3600\./);
    expect(interval.exitCode).to.equal(2);
    const view = await mosmon(['--view', 'x']);
    expect(view.stderr).to.match(/Allowed choices are load, frozen, memory, dead, help/);
    expect(view.exitCode).to.equal(2);
  });
});
