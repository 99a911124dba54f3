// Lets Node run the harness's TypeScript straight from source (Node 24 strips or transforms the types), as
// `make dev-cluster` does: imports say `./x.js`, as tsc wants, while the file on disk is `./x.ts`.
// Load it with `node --experimental-transform-types --import ./test/harness/ts-resolve.ts <script>.ts`.
import { registerHooks } from 'node:module';

registerHooks({
  resolve(specifier, context, nextResolve) {
    try {
      return nextResolve(specifier, context);
    } catch (error) {
      if (!specifier.startsWith('.') || !specifier.endsWith('.js')) throw error;
      return nextResolve(`${specifier.slice(0, -'.js'.length)}.ts`, context);
    }
  },
});
