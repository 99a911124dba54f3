// @mlc-ai/web-xgrammar: the WASM build of XGrammar, the grammar engine vLLM and SGLang use, loaded once
// per process. The package is a UMD bundle inside a `"type": "module"` package, which Node's ESM loader
// refuses (ERR_AMBIGUOUS_MODULE_SYNTAX: it calls require and awaits at the top level), so it is
// evaluated here in a CommonJS wrapper. Its one dynamic import (`import('module')`, for createRequire)
// becomes a require: a dynamic import from vm-compiled code needs an experimental flag. The bundle
// instantiates its WASM on the first call and every call that starts before that one finished makes
// an instance of its own (whose objects the others refuse): `xgrammar()` resolves once it is made.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import vm from 'node:vm';
import type * as XGrammar from '@mlc-ai/web-xgrammar';

export type XGrammarModule = typeof XGrammar;

const DYNAMIC_IMPORT = "await import('module')";

let ready: Promise<XGrammarModule> | undefined;

export function xgrammar(): Promise<XGrammarModule> {
  ready ??= (async () => {
    const x = load();
    (await x.Grammar.builtinJSONGrammar()).dispose();
    return x;
  })();
  return ready;
}

function load(): XGrammarModule {
  const file = createRequire(import.meta.url).resolve('@mlc-ai/web-xgrammar');
  const source = readFileSync(file, 'utf8');
  if (!source.includes(DYNAMIC_IMPORT))
    throw new Error(`${file}: not the bundle this loader knows (no ${DYNAMIC_IMPORT})`);
  const wrapper = vm.runInThisContext(
    `(function (exports, require, module, __filename, __dirname) {${source.replace(DYNAMIC_IMPORT, "require('module')")}\n})`,
    { filename: file },
  ) as (...args: unknown[]) => void;
  const module = { exports: {} as XGrammarModule };
  wrapper.call(module.exports, module.exports, createRequire(file), module, file, dirname(file));
  return module.exports;
}
