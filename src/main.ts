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

// A log pipe whose reader is gone (a log collector restarted, a closed terminal, a parent that
// died, `| head`) fails each write with EPIPE, asynchronously, as an 'error' event on the
// stream. Unhandled, that is an uncaught exception, whose report is one more write to the same
// pipe: a loop that held a core at 100% for as long as the daemon ran. From the first such
// error the stream is dropped (Node destroys it; later writes are no-ops): logs are lost, the
// daemon keeps serving. Metrics still show what it does.
for (const stream of [process.stdout, process.stderr]) stream.on('error', ignoreStdioError);

function ignoreStdioError(): void {}

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
