import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../src/errors.ts';
import {
  chainCredentials,
  envCredentials,
  fileCredentials,
  mapCredentials,
  type CredentialsProvider,
} from '../src/credentials/credentialsProvider.ts';
import { Redactor } from '../src/credentials/Redactor.ts';
import { Secrets } from '../src/credentials/Secrets.ts';

const VALUE = 'sk-canary-XYZ-credentials-0123456789';
let dir = '';

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'statecraft-credentials-'));
});

test.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function secretFile(name: string, text: string, mode = 0o600): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text, { mode });
  await chmod(path, mode);
  return path;
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

test('envCredentials maps a name to STATECRAFT_SECRET_<UPPER> and treats empty as unset', async () => {
  const provider = envCredentials({ env: { STATECRAFT_SECRET_GITHUB_TOKEN: VALUE, STATECRAFT_SECRET_EMPTY: '' } });
  assert.is(await provider.get('github_token'), VALUE);
  assert.is(await provider.get('empty'), undefined);
  assert.is(await provider.get('other'), undefined);
  assert.is(provider.describe(), 'environment (STATECRAFT_SECRET_*)');
  assert.is(provider.locate?.('aws.key-id'), 'environment variable STATECRAFT_SECRET_AWS_KEY_ID');
  const custom = envCredentials({ prefix: 'MY_', env: { MY_TOKEN: 'abcd1234' } });
  assert.is(await custom.get('token'), 'abcd1234');
  assert.is(custom.describe(), 'environment (MY_*)');
});

test('fileCredentials reads a JSON object file', async () => {
  const path = await secretFile('creds.json', JSON.stringify({ github_token: VALUE, other: 'x1234' }));
  const provider = fileCredentials(path);
  assert.is(await provider.get('github_token'), VALUE);
  assert.is(await provider.get('missing'), undefined);
  assert.is(provider.describe(), `file ${path}`);
});

test('fileCredentials reads a .env file with comments, export, quotes and upper-case keys', async () => {
  const path = await secretFile(
    'creds.env',
    [
      '# comment',
      '',
      `GITHUB_TOKEN=${VALUE}`,
      'export db_password="p@ss \\"q\\" x"',
      "single='a b # not a comment'",
      'plain=value # trailing comment',
    ].join('\n'),
  );
  const provider = fileCredentials(path);
  assert.is(await provider.get('github_token'), VALUE);
  assert.is(await provider.get('db_password'), 'p@ss "q" x');
  assert.is(await provider.get('single'), 'a b # not a comment');
  assert.is(await provider.get('plain'), 'value');
});

test('fileCredentials refuses a file readable by group or others unless allowed', async () => {
  const path = await secretFile('loose.env', `TOKEN=${VALUE}\n`, 0o644);
  const error = await rejection(Promise.resolve(fileCredentials(path).get('token')));
  assert.instance(error, UserError);
  assert.match(error.message, 'mode 644');
  assert.match(error.message, `chmod 600 ${path}`);
  assert.match(error.message, 'allowLooseMode');
  assert.not.ok(error.message.includes(VALUE));
  assert.is(await fileCredentials(path, { allowLooseMode: true }).get('token'), VALUE);
});

test('fileCredentials reads the file once and caches it', async () => {
  const path = await secretFile('once.json', JSON.stringify({ token: 'first-value' }));
  const provider = fileCredentials(path);
  assert.is(await provider.get('token'), 'first-value');
  await writeFile(path, JSON.stringify({ token: 'second-value' }));
  assert.is(await provider.get('token'), 'first-value');
});

test('fileCredentials errors never quote the file content', async () => {
  const badJson = await secretFile('bad.json', `{"token": ${VALUE}}`);
  const jsonError = await rejection(Promise.resolve(fileCredentials(badJson).get('token')));
  assert.match(jsonError.message, 'not valid JSON');
  assert.not.ok(jsonError.message.includes(VALUE));
  const badEnv = await secretFile('bad.env', `OK=1\n${VALUE}\n`);
  const envError = await rejection(Promise.resolve(fileCredentials(badEnv).get('ok')));
  assert.match(envError.message, 'line 2');
  assert.not.ok(envError.message.includes(VALUE));
  const missing = await rejection(Promise.resolve(fileCredentials(join(dir, 'nope.env')).get('x')));
  assert.match(missing.message, 'ENOENT');
});

test('chainCredentials returns the first provider that has the name', async () => {
  const asked: string[] = [];
  const spy = (label: string, record: Record<string, string>): CredentialsProvider => ({
    get: async (name) => {
      asked.push(label);
      return record[name];
    },
    describe: () => label,
  });
  const chain = chainCredentials(spy('a', { x: 'from-a' }), spy('b', { x: 'from-b', y: 'from-b' }));
  assert.is(await chain.get('x'), 'from-a');
  assert.equal(asked, ['a']);
  assert.is(await chain.get('y'), 'from-b');
  assert.is(await chain.get('z'), undefined);
  assert.is(chain.describe(), 'a, then b');
  assert.throws(() => chainCredentials(), /at least one provider/);
});

function secrets(grants: string[], provider: CredentialsProvider = mapCredentials({ github_token: VALUE, aws_key: VALUE + '-aws' })) {
  const redactor = new Redactor();
  return { redactor, secrets: new Secrets({ provider, grants, redactor }) };
}

test('a declared and granted secret is returned and registered with the redactor at once', async () => {
  const { redactor, secrets: s } = secrets(['github_token', 'aws_*']);
  assert.is(redactor.redactString(VALUE), VALUE);
  assert.is(await s.forTool('open_issue', ['github_token']).get('github_token'), VALUE);
  assert.is(redactor.redactString(`x ${VALUE}`), 'x [redacted:github_token]');
  assert.is(await s.forTool('upload', ['aws_key']).get('aws_key'), `${VALUE}-aws`);
});

test('a secret the tool did not declare is refused, naming tool, secret and fix, never the value', async () => {
  const { secrets: s } = secrets(['github_token']);
  const error = await rejection(s.forTool('search', []).get('github_token'));
  assert.instance(error, UserError);
  assert.match(error.message, 'Tool "search"');
  assert.match(error.message, '"github_token"');
  assert.match(error.message, "tool's secrets: [...]");
  assert.not.ok(error.message.includes(VALUE));
});

test('a secret the agent was not granted is refused, naming tool, secret and fix, never the value', async () => {
  const { redactor, secrets: s } = secrets(['aws_*']);
  const error = await rejection(s.forTool('open_issue', ['github_token']).get('github_token'));
  assert.instance(error, UserError);
  assert.match(error.message, 'Tool "open_issue"');
  assert.match(error.message, '"github_token"');
  assert.match(error.message, 'not granted (granted: aws_*)');
  assert.match(error.message, "agent's secret grants");
  assert.not.ok(error.message.includes(VALUE));
  assert.is(redactor.size, 0);
  assert.not.ok(s.isGranted('aws'));
  assert.ok(s.isGranted('aws_'));
});

test('a missing secret names where the provider looked', async () => {
  const { secrets: s } = secrets(['*'], chainCredentials(mapCredentials({}, 'test map'), envCredentials({ env: {} })));
  const error = await rejection(s.forTool('deploy', ['api_key']).get('api_key'));
  assert.match(error.message, 'Tool "deploy" needs secret "api_key"');
  assert.match(error.message, 'test map (0 names), then environment variable STATECRAFT_SECRET_API_KEY');
});

test('invalid grants and declared names are refused when configured', () => {
  const redactor = new Redactor();
  const provider = mapCredentials({});
  assert.throws(() => new Secrets({ provider, grants: ['ok', 'bad name'], redactor }), /grant "bad name"/);
  const s = new Secrets({ provider, grants: ['ok'], redactor });
  assert.throws(() => s.forTool('t', ['a/b']), /Tool "t" declares secret "a\/b"/);
});

test('canary: no error from Secrets or providers contains the value', async () => {
  const { secrets: s } = secrets(['github_token']);
  const messages: string[] = [];
  for (const [tool, declared, name] of [
    ['a', [], 'github_token'],
    ['b', ['aws_key'], 'aws_key'],
    ['c', ['github_token'], 'github_tokenx'],
  ] as const) {
    const error = await rejection(s.forTool(tool, declared).get(name));
    messages.push(error.message, error.stack ?? '');
  }
  assert.is(messages.length, 6);
  for (const message of messages) assert.not.ok(message.includes('sk-canary-XYZ'));
});

test.run();
