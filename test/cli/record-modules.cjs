// Preloaded (node --require) by tests that check what a process loads, from the module graph and
// not from timing: test/cli/help-fast.test.ts (which path bin/run.cjs took) and
// test/e2e/daemon-modules.test.ts (what the resident daemon keeps out of memory).
// - HVVSS_TEST_MODULES_LOG: the URL of every module loaded is appended to that file;
// - HVVSS_TEST_BUILTINS_LOG: at exit, the Node built-in modules loaded are written to that file.
// CommonJS, preloaded with --require: a preload given to --import would make Node run the main
// module through its ESM loader, which bin/run.cjs keeps out of the daemon. Node's modules are
// reached through process.getBuiltinModule: an ESM import of node:fs would itself load
// fs/promises and more into the process under test. Plain JavaScript: the daemon's Node options
// (--lite-mode) leave no WebAssembly for Node's TypeScript stripping.
const fs = process.getBuiltinModule('node:fs');

const log = process.env.HVVSS_TEST_MODULES_LOG;
if (log) {
  process.getBuiltinModule('node:module').registerHooks({
    load(url, context, nextLoad) {
      fs.appendFileSync(log, `${url}\n`);
      return nextLoad(url, context);
    },
  });
}

const builtins = process.env.HVVSS_TEST_BUILTINS_LOG;
if (builtins) {
  process.on('exit', () => {
    const loaded = process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice('NativeModule '.length));
    fs.writeFileSync(builtins, `${loaded.join('\n')}\n`);
  });
}
