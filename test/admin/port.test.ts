// The FreeBSD port (packaging/freebsd/sysutils/hvvss) agrees with the package `npm pack` makes
// (run `npm run build` first): pkg-plist lists exactly the packed files under
// lib/node_modules/hvvss and what do-install places elsewhere; every file the Makefile installs
// from the package or the port exists; the port's rc.d script is rc.d/hvvss with the ports'
// %%PREFIX%% substitutions and nothing else.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { NODE_MODULE_DIR, packedFiles, PLIST, plist } from '../../packaging/freebsd/plist.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PORT = fileURLToPath(new URL('../../packaging/freebsd/sysutils/hvvss/', import.meta.url));
const makefile = readFileSync(`${PORT}Makefile`, 'utf8');
const variable = (name: string) => new RegExp(`^${name}=\\s*(.*)$`, 'm').exec(makefile)?.[1]?.trim();

let packed: string[];
before(() => {
  packed = packedFiles();
});

test('pkg-plist lists exactly the packed files, the command, the man page and the sample hooks', () => {
  assert.ok(packed.includes('dist/commands/daemon.js'), `the tree is built ("npm run build"): ${packed.join(' ')}`);
  const entries = readFileSync(PLIST, 'utf8').split('\n').filter((l) => l && !l.startsWith('@comment'));
  const underPackage = entries.filter((e) => e.startsWith(`${NODE_MODULE_DIR}/`)).map((e) => e.slice(NODE_MODULE_DIR.length + 1));
  assert.deepEqual(underPackage, packed, 'lib/node_modules/hvvss in pkg-plist vs npm pack');
  for (const page of packed.filter((p) => p.startsWith('man/'))) {
    const [, name, section] = /^man\/(.+)\.(\d)$/.exec(page)!;
    assert.ok(entries.includes(`share/man/man${section}/${name}.${section}.gz`), `${page} is installed as a man page`);
  }
  for (const hook of packed.filter((p) => p.startsWith('hooks.d/'))) {
    assert.ok(entries.includes(`@(root,wheel,0755) %%ETCDIR%%/${hook}`), `${hook} is installed, executable, beside the hooks`);
  }
  assert.ok(entries.includes('bin/hvvss'));
  assert.equal(readFileSync(PLIST, 'utf8'), plist(packed), 'pkg-plist is up to date: node packaging/freebsd/plist.ts --write');
});

test('every file do-install takes from the package or the port exists', () => {
  const fromPackage = [...makefile.matchAll(/\$\{WRKSRC\}\/([\w./*-]+)/g)].map((m) => m[1]!);
  assert.ok(fromPackage.length > 0);
  for (const path of fromPackage) {
    const pattern = new RegExp(`^${path.replaceAll('.', '\\.').replaceAll('*', '[^/]*')}$`);
    assert.ok(packed.some((p) => pattern.test(p)), `\${WRKSRC}/${path} is in the package`);
  }
  const fromPort = [...makefile.matchAll(/\$\{FILESDIR\}\/([\w.-]+)/g)].map((m) => m[1]!);
  for (const file of [...fromPort, 'hvvss.in', 'pkg-message.in']) assert.ok(existsSync(`${PORT}files/${file}`), `files/${file} exists`);
  for (const file of ['pkg-descr', 'pkg-plist']) assert.ok(existsSync(`${PORT}${file}`), file);
  assert.ok(packed.includes('LICENSE') && variable('LICENSE_FILE') === '${WRKSRC}/LICENSE', 'LICENSE_FILE is the packed LICENSE');
});

test('the port\'s version, license and Node.js match package.json', () => {
  const pjson = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { version: string; license: string; engines: { node: string } };
  assert.equal(variable('DISTVERSION'), pjson.version);
  assert.equal(pjson.license, 'BSD-2-Clause');
  assert.equal(variable('LICENSE'), 'BSD2CLAUSE');
  const nodeMajor = Number(/nodejs:(\d+)/.exec(variable('USES') ?? '')?.[1]);
  const minimum = Number(/>=\s*(\d+)/.exec(pjson.engines.node)?.[1]);
  assert.ok(nodeMajor >= minimum, `USES=nodejs:${nodeMajor} satisfies engines ${pjson.engines.node}`);
  assert.equal(variable('USE_RC_SUBR'), 'hvvss');
});

test('files/hvvss.in is rc.d/hvvss with %%PREFIX%% and %%LOCALBASE%% for /usr/local, nothing else', () => {
  const port = readFileSync(`${PORT}files/hvvss.in`, 'utf8');
  assert.match(port, /%%PREFIX%%\/lib\/node_modules\/hvvss\/bin\/run\.cjs/);
  assert.match(port, /%%LOCALBASE%%\/bin\/node/);
  const expanded = port.replaceAll('%%PREFIX%%', '/usr/local').replaceAll('%%LOCALBASE%%', '/usr/local');
  assert.equal(expanded, readFileSync(`${ROOT}rc.d/hvvss`, 'utf8'), 'update files/hvvss.in from rc.d/hvvss');
  assert.doesNotMatch(port, /\/usr\/local/, 'every /usr/local is substituted');
});

test('the port builds the suspension helper from the packed C with the base cc, and installs it where hvvss looks for it', async () => {
  const { DEFAULT_HELPER } = await import('../../src/fs/freeze-helper.ts');
  assert.match(makefile, /^do-build:\n\t\$\{CC\} \$\{CFLAGS\} \$\{LDFLAGS\} -o \$\{WRKDIR\}\/hvvss-fsfreeze \\\n\t    \$\{WRKSRC\}\/src\/fs\/helper\/hvvss-fsfreeze\.c$/m);
  assert.match(makefile, /^\t\$\{INSTALL_PROGRAM\} \$\{WRKDIR\}\/hvvss-fsfreeze \$\{STAGEDIR\}\$\{PREFIX\}\/libexec$/m);
  assert.doesNotMatch(makefile, /^NO_BUILD=/m);
  assert.equal(DEFAULT_HELPER, '/usr/local/libexec/hvvss-fsfreeze');
  assert.ok(readFileSync(PLIST, 'utf8').split('\n').includes('libexec/hvvss-fsfreeze'));
});
