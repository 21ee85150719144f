// man/hvvss.8 is lint-clean mdoc and never disagrees with --help on a flag: the flags of each
// subcommand section are exactly the flags oclif knows for those commands (from the manifest
// that `npm run build` writes, which is what --help shows).
import { test } from 'node:test';
import { missing } from '../support/requirements.ts';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const MAN = new URL('../../man/hvvss.8', import.meta.url);
const page = readFileSync(MAN, 'utf8');
const manifest = JSON.parse(readFileSync(new URL('../../oclif.manifest.json', import.meta.url), 'utf8')) as {
  commands: Record<string, { flags: Record<string, { char?: string; env?: string }> }>;
};

test('mandoc -Tlint -Wwarning finds nothing', (t) => {
  const lint = spawnSync('mandoc', ['-Tlint', '-Wwarning', MAN.pathname], { encoding: 'utf8' });
  if (lint.error) return missing(t, 'mandoc is not installed (apt-get install mandoc; npm test installs it when run as root)');
  assert.equal(`${lint.stdout}${lint.stderr}`, '');
  assert.equal(lint.status, 0);
  // And it renders.
  assert.match(execFileSync('mandoc', ['-Tascii', MAN.pathname], { encoding: 'utf8' }), /HVVSS\(8\)/);
});

/** The `.Ss` sections of DESCRIPTION, by the commands they document. */
function sections(): Map<string[], string> {
  const description = page.slice(page.indexOf('.Sh DESCRIPTION'), page.indexOf('.Sh HOOKS'));
  const result = new Map<string[], string>();
  for (const part of description.split(/^\.Ss /m).slice(1)) {
    const [title = '', ...body] = part.split('\n');
    const commands = title.replace(/^hvvss /, '').split('|').map((c) => c.trim());
    result.set(commands, body.join('\n'));
  }
  return result;
}

function manFlags(text: string): { long: Set<string>; short: Set<string> } {
  const long = new Set([...text.matchAll(/Fl -([a-z][a-z-]*)/g)].map((m) => m[1]!));
  const short = new Set([...text.matchAll(/Fl ([a-zA-Z])(?=\s|$| ,)/gm)].map((m) => m[1]!));
  return { long, short };
}

test('every command has a section, and each section lists exactly its commands\' flags', () => {
  const documented = sections();
  const covered = [...documented.keys()].flat().sort();
  assert.deepEqual(covered, Object.keys(manifest.commands).sort(), 'a command without a section in the man page (or the reverse)');
  for (const [commands, text] of documented) {
    const flags = manFlags(text);
    const long = new Set(commands.flatMap((c) => Object.keys(manifest.commands[c]!.flags)));
    const short = new Set(commands.flatMap((c) => Object.values(manifest.commands[c]!.flags).flatMap((f) => (f.char ? [f.char] : []))));
    assert.deepEqual([...flags.long].sort(), [...long].sort(), `long flags of ${commands.join(', ')}: man page vs --help`);
    assert.deepEqual([...flags.short].sort(), [...short].sort(), `short flags of ${commands.join(', ')}: man page vs --help`);
    for (const [name, flag] of commands.flatMap((c) => Object.entries(manifest.commands[c]!.flags))) {
      if (flag.char) assert.match(text, new RegExp(`\\.It Fl ${flag.char} , Fl -${name}\\b`), `${commands} -${flag.char} is --${name}`);
    }
  }
});

test('the synopsis has a line for every command', () => {
  const synopsis = page.slice(page.indexOf('.Sh SYNOPSIS'), page.indexOf('.Sh DESCRIPTION'));
  for (const command of Object.keys(manifest.commands)) assert.match(synopsis, new RegExp(`^\\.Cm .*\\b${command}\\b`, 'm'), command);
});

test('no source line is over 80 columns', () => {
  const long = page.split('\n').map((line, i) => ({ n: i + 1, line })).filter(({ line }) => line.length > 80);
  assert.deepEqual(long.map(({ n, line }) => `${n}: ${line}`), []);
});

/** The text of one `.Sh` section. */
function section(name: string): string {
  const start = page.indexOf(`.Sh ${name}\n`);
  assert.ok(start >= 0, `the page has a ${name} section`);
  const end = page.indexOf('\n.Sh ', start + 1);
  return page.slice(start, end < 0 ? undefined : end);
}

test('ENVIRONMENT lists exactly the variables the flags read; HISTORY, AUTHORS and SEE ALSO are there', () => {
  const fromFlags = new Set(Object.values(manifest.commands).flatMap((c) => Object.values(c.flags).flatMap((f) => (f.env ? [f.env] : []))));
  const documented = new Set([...section('ENVIRONMENT').matchAll(/^\.It Ev (\w+)/gm)].map((m) => m[1]!));
  assert.deepEqual([...documented].sort(), [...fromFlags].sort());
  assert.match(section('HISTORY'), /first appeared/);
  assert.match(section('AUTHORS'), /\.An /);
  const seeAlso = section('SEE ALSO');
  for (const ref of ['flock 2', 'syslog 3', 'hv_vss 4', 'daemon 8', 'hv_vss_daemon 8', 'rc.subr 8']) assert.match(seeAlso, new RegExp(`^\\.Xr ${ref}\\b`, 'm'), ref);
});
