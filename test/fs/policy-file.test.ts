// The fs policy file: its line format (comments, \040, line numbers in every error) and the trust
// rules root applies to what it reads (owned by root, writable by nobody else, nor any directory
// above it), and the flags winning over it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePolicyFile, PolicyFileError, readPolicyFile } from '../../src/fs/policy-file.ts';
import { loadFsPolicy } from '../../src/fs/fs-policy.ts';
import { scratch } from '../state/scratch.ts';

const ROOT = [0];

test('the format: MOUNTPOINT ACTION, # comments, \\040 for a space, trailing slash ignored', () => {
  const rules = parsePolicyFile('# the ESP\n/boot/efi   sync-if-busy   # flush when busy\n\n\t/mnt/my\\040disk\tskip\n/scratch/ sync\n', '/etc/p');
  assert.deepEqual(rules, [
    { mountpoint: '/boot/efi', action: 'sync-if-busy', origin: '/etc/p:2' },
    { mountpoint: '/mnt/my disk', action: 'skip', origin: '/etc/p:4' },
    { mountpoint: '/scratch', action: 'sync', origin: '/etc/p:5' },
  ]);
});

test('malformed lines: every one reported with its line number and the format', () => {
  const text = '/boot/efi freeze\nrelative skip\n/a\n/b skip extra\n/c skip\n/c/ sync\n';
  assert.throws(() => parsePolicyFile(text, '/etc/p'), (err: unknown) => {
    assert.ok(err instanceof PolicyFileError);
    assert.match(err.message, /^fs policy \/etc\/p: line 1: unknown action "freeze": use skip, sync, remount-ro, skip-if-busy or sync-if-busy; /);
    assert.match(err.message, /line 2: "relative" is not an absolute mount point/);
    assert.match(err.message, /line 3: expected "MOUNTPOINT ACTION", got "\/a"/);
    assert.match(err.message, /line 4: expected "MOUNTPOINT ACTION", got "\/b skip extra"/);
    assert.match(err.message, /line 6: \/c already has a rule on line 5/);
    assert.match(err.message, /Fix the file \(format: "MOUNTPOINT ACTION" per line/);
    return true;
  });
});

test('trust: the file must be root\'s and not writable by others, and so must every directory above it', (t) => {
  const dir = join(scratch(t), 'etc');
  mkdirSync(dir, { mode: 0o755 });
  const file = join(dir, 'fs-policy');
  writeFileSync(file, '/boot/efi skip\n', { mode: 0o644 });
  assert.deepEqual(readPolicyFile(file, { required: true, trustedUids: ROOT })?.map((r) => r.origin), [`${file}:1`]);
  chmodSync(file, 0o664);
  assert.throws(() => readPolicyFile(file, { required: true, trustedUids: ROOT }), new RegExp(`not trusted: group-writable \\(mode 0664\\); fix: chmod go-w ${file}`));
  chmodSync(file, 0o644);
  chownSync(file, 65534, 0);
  assert.throws(() => readPolicyFile(file, { required: true, trustedUids: ROOT }), new RegExp(`owned by uid 65534, not root; fix: chown root ${file}`));
  chownSync(file, 0, 0);
  chmodSync(dir, 0o777);
  assert.throws(() => readPolicyFile(file, { required: true, trustedUids: ROOT }), new RegExp(`not trusted: a user other than root could change it: ${dir} is .*world-writable.*fix: chmod go-w ${dir}`));
  chmodSync(dir, 0o755);
});

test('the default file is optional; a file named with --fs-policy must exist; flags win over the file', (t) => {
  const dir = scratch(t);
  assert.equal(readPolicyFile(join(dir, 'none'), { required: false, trustedUids: ROOT }), undefined);
  assert.throws(() => loadFsPolicy({ 'fs-policy': join(dir, 'none') }, ROOT), /cannot be read \(ENOENT at .*\): create it, or leave --fs-policy out/);
  const file = join(dir, 'fs-policy');
  writeFileSync(file, '/boot/efi skip-if-busy\n', { mode: 0o644 });
  const policy = loadFsPolicy({ 'fs-policy': file, 'fs-sync-if-busy': ['/boot/efi'] }, ROOT);
  assert.equal(policy.file, file);
  assert.deepEqual(policy.syncIfBusy, ['/boot/efi']);
  assert.equal(policy.rules?.length, 1);
});
