#!/usr/bin/env node
import { CommanderError } from 'commander';
import { buildCli, EXIT_CONFIG, EXIT_RUNTIME } from './cli.js';

/** Entry point: the only caller of process.exit. */
const io = {
  env: process.env,
  out: (text: string) => process.stdout.write(text),
  err: (text: string) => process.stderr.write(text),
  exit: (code: number) => {
    process.exitCode = code;
    // Let stdout/stderr drain before leaving.
    setImmediate(() => process.exit(code));
  },
};

process.on('uncaughtException', (err) => {
  process.stderr.write(JSON.stringify({ time: Date.now(), level: 'error', msg: 'uncaught exception', err: { message: err.message, stack: err.stack } }) + '\n');
});
process.on('unhandledRejection', (reason) => {
  const err = reason instanceof Error ? reason : new Error(String(reason));
  process.stderr.write(JSON.stringify({ time: Date.now(), level: 'error', msg: 'unhandled rejection', err: { message: err.message, stack: err.stack } }) + '\n');
});

buildCli(io)
  .parseAsync(process.argv)
  .catch((err: unknown) => {
    if (err instanceof CommanderError) {
      io.exit(err.exitCode === 0 ? 0 : EXIT_CONFIG);
      return;
    }
    process.stderr.write(`herald: ${err instanceof Error ? err.message : String(err)}\n`);
    io.exit(EXIT_RUNTIME);
  });
