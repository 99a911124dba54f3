#!/usr/bin/env node
// The `dynamo` command: the compiled CLI lives in dist/ (built by `make setup` / `npm run build`).
// Written for any Node.js, so that an older one says what is needed instead of crashing deep inside a
// dependency (undici on Node.js 20: "Cannot read properties of undefined (reading 'bind')").
const REQUIRED_MAJOR = 24; // package.json engines and the pinned `node` devDependency

const major = Number(process.versions.node.split('.')[0]);
if (major !== REQUIRED_MAJOR) {
  console.error(
    [
      `dynamo: needs Node.js ${REQUIRED_MAJOR} LTS; this is Node.js ${process.versions.node} (${process.execPath}).`,
      'The project pins it as the `node` npm package: after `npm ci` (or `make setup-run`), run',
      '  npx dynamo ...                              (npm puts the pinned node first on PATH)',
      '  node_modules/.bin/node bin/dynamo.js ...',
      '  make run ARGS="..."',
    ].join('\n'),
  );
  process.exit(1);
}

import('../dist/cli/main.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/cli/main.js')) {
    console.error('dynamo: dist/ is missing; run `make setup-run` (or `npm run build`) first');
    process.exit(1);
  }
  throw err;
});
