/** node orchestrator/dist/main.js --config FILE */
import { parseArgs } from 'node:util';
import { buildApp } from './app.js';
import { loadTls, TlsConfigError } from '@godwit/schemas/tls';
import { ConfigError, loadConfig } from './config.js';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { config: { type: 'string', short: 'c' } } });
  if (!values.config) {
    console.error('usage: godwit-orchestrator --config FILE');
    process.exit(1);
  }
  let config;
  let tls;
  try {
    config = loadConfig(values.config);
    tls = loadTls({
      source: `configuration ${values.config}`,
      component: 'the orchestrator',
      tls: config.tls,
      urls: config.nodes.map((n) => ({ what: `node ${n.name}'s url`, url: n.url })),
      warn: (message) => console.error(message),
    });
  } catch (err) {
    if (!(err instanceof ConfigError || err instanceof TlsConfigError)) throw err;
    console.error(err.message);
    process.exit(1);
  }
  const app = await buildApp(config, { tls });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      app.log.warn(`${signal} again: exiting at once`);
      process.exit(1);
    }
    stopping = true;
    app.log.info(`${signal}: closing`);
    app.close().then(
      () => process.exit(0),
      (err: unknown) => {
        app.log.error({ err }, 'closing failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  await app.listen({ host: config.listen.host, port: config.listen.port });
}

main().catch((err: unknown) => {
  console.error(`orchestrator failed to start: ${(err as Error).message ?? String(err)}`);
  process.exit(1);
});
