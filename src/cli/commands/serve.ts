// `elastripe serve [--listen HOST:PORT] [--token T]`: owns the array in the foreground until
// SIGTERM or SIGINT; the process itself is src/cli/serve/serve_process.ts.
export { runServe } from '../serve/serve_process.js';
