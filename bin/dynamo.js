#!/usr/bin/env node
// The `dynamo` command: the compiled CLI lives in dist/ (built by `make setup` / `npm run build`).
import('../dist/cli/main.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/cli/main.js')) {
    console.error('dynamo: dist/ is missing; run `make setup` (or `npm run build`) first');
    process.exit(1);
  }
  throw err;
});
