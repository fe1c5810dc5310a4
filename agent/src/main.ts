#!/usr/bin/env node
/** godwit agent: one per node. `node agent/dist/main.js --config FILE` */
import { parseArgs } from 'node:util';
import { buildAgent } from './app.js';
import { clientAgent, loadTls } from '@godwit/schemas/tls';
import { loadConfig } from './config.js';
import { requireGodwitCriu } from './criu.js';
import { openLocalSocket } from './local-socket.js';
import { createLoadMeter } from './load.js';
import { makeLocalDirs } from './node-local.js';
import { createProcMeter } from './proc-load.js';
import { readCpuRecord, readPlatform } from './platform.js';
import { startReporter } from './reporter.js';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { config: { type: 'string' } } });
  if (!values.config) throw new Error('usage: godwit-agent --config FILE');
  const config = loadConfig(values.config);
  const tls = loadTls({
    source: `agent configuration ${values.config}`,
    component: `the agent of ${config.node}`,
    tls: config.tls,
    urls: [{ what: 'url', url: config.url }, { what: 'orchestrator.url', url: config.orchestrator.url }],
    warn: (message) => process.stderr.write(`${message}\n`),
  });
  await requireGodwitCriu(config.criuPath);
  if (config.nodeLocal) makeLocalDirs(config.nodeLocal, config.sharedPaths);
  const { app, procs, criu } = await buildAgent(config, { tls });
  const features = await criu.features();
  const platform = await readPlatform({
    dataDir: config.dataDir,
    ...(config.cpuFeatureMask ? { cpuFeatureMask: config.cpuFeatureMask } : {}),
    criu,
    criuVersion: features.criuVersion,
    warn: (msg) => app.log.warn(msg),
  });
  await app.listen({ host: config.listen.host, port: config.listen.port });
  const local = config.localSocket
    ? await openLocalSocket({ path: config.localSocket, node: config.node, orchestratorUrl: config.orchestrator.url, token: config.token, log: app.log, ...(tls ? { agent: clientAgent(tls) } : {}) })
    : undefined;
  app.log.info({ node: config.node, features, platform: { ...platform, cpuFeatures: undefined } }, 'agent ready');
  if (platform.cpuMasked.length) app.log.warn({ masked: platform.cpuMasked }, 'cpuFeatureMask: this node reports CPU features as absent that its CPU has (a simulation only)');
  const meter = createLoadMeter(config);
  const procMeter = createProcMeter();
  const reporter = startReporter({
    config,
    features,
    platform,
    cpuinfo: readCpuRecord(config.dataDir),
    procs: () => procs.list(),
    load: () => {
      const list = procs.list();
      return { ...meter(list.filter((p) => p.state === 'running').length), procs: procMeter(list) };
    },
    log: app.log,
    ...(tls ? { tls } : {}),
  });
  // Programs are left running: their keepers hold them, and a restarted agent finds them on disk.
  const stop = async () => {
    reporter.stop();
    await local?.close();
    await app.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
}

main().catch((err: unknown) => {
  process.stderr.write(`godwit-agent: ${(err as Error).message}\n`);
  process.exit(1);
});
