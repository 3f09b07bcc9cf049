import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Redactor } from '../src/credentials/Redactor.ts';

const TOKEN = 'ghp_16C7e42F292c6912E7710c838347Ae178B4a';
const TRICKY = 'p@ss "word" \\ with/slash+plus & more';
const CANARY = 'sk-canary-XYZ0123456789abcdefCANARY';

function redactor(): Redactor {
  const r = new Redactor();
  r.register(TOKEN, 'github_token');
  r.register(TRICKY, 'db_password');
  return r;
}

test('replaces a raw value with its named label, every occurrence', () => {
  const out = redactor().redactString(`a ${TOKEN} b ${TOKEN}`);
  assert.is(out, 'a [redacted:github_token] b [redacted:github_token]');
});

test('ignores values shorter than 4 characters without throwing', () => {
  const r = new Redactor();
  assert.is(r.register('abc', 'short'), false);
  assert.is(r.register('', 'empty'), false);
  assert.is(r.redactString('abc abc'), 'abc abc');
  assert.is(r.register('abcd', 'four'), true);
  assert.is(r.redactString('xabcdx'), 'x[redacted:four]x');
});

test('catches the JSON-escaped form of a value with quotes and backslashes', () => {
  const r = redactor();
  const text = JSON.stringify({ password: TRICKY });
  assert.ok(!text.includes(TRICKY), 'fixture: the raw value is not in the JSON text');
  const out = r.redactString(text);
  assert.is(out, '{"password":"[redacted:db_password]"}');
  const twice = JSON.stringify({ args: text });
  assert.is(r.redactString(twice), '{"args":"{\\"password\\":\\"[redacted:db_password]\\"}"}');
});

test('catches base64 and base64url forms, including inside Basic auth', () => {
  const r = redactor();
  for (const encoded of [
    Buffer.from(TOKEN).toString('base64'),
    Buffer.from(TRICKY).toString('base64url'),
    Buffer.from(TRICKY).toString('base64'),
  ]) {
    assert.ok(r.redactString(`x ${encoded} y`).includes('[redacted:'), encoded);
  }
  for (const user of ['u', 'us', 'use', 'user1']) {
    const header = `Basic ${Buffer.from(`${user}:${TOKEN}`).toString('base64')}`;
    const out = r.redactString(header);
    assert.ok(out.includes('[redacted:github_token]'), header);
    assert.not.ok(Buffer.from(out.slice(6), 'base64').toString('latin1').includes(TOKEN.slice(4, 30)));
  }
});

test('catches URL-encoded and hex forms', () => {
  const r = redactor();
  assert.is(r.redactString(`?p=${encodeURIComponent(TRICKY)}&q=1`), '?p=[redacted:db_password]&q=1');
  assert.is(r.redactString(`p=${encodeURIComponent(TRICKY).replace(/%20/g, '+')}`), 'p=[redacted:db_password]');
  const hex = Buffer.from(TOKEN).toString('hex');
  assert.is(r.redactString(`0x${hex}`), '0x[redacted:github_token]');
  assert.is(r.redactString(hex.toUpperCase()), '[redacted:github_token]');
});

test('redactJson redacts nested keys and values and leaves the input untouched', () => {
  const r = redactor();
  const clean = { untouched: [1, 2, { deep: 'x' }] };
  const input = {
    messages: [{ role: 'tool', content: `token ${TOKEN}` }, { role: 'user', content: 'hi' }],
    headers: { [TOKEN]: true, auth: `Basic ${Buffer.from(`me:${TOKEN}`).toString('base64')}` },
    clean,
    n: 3,
    nil: null,
  };
  const snapshot = JSON.stringify(input);
  const out = r.redactJson(input);
  assert.is.not(out, input);
  assert.is(JSON.stringify(input), snapshot);
  assert.not.ok(JSON.stringify(out).includes(TOKEN));
  assert.equal(out.messages[0], { role: 'tool', content: 'token [redacted:github_token]' });
  assert.is(out.messages[1], input.messages[1]);
  assert.equal(Object.keys(out.headers), ['[redacted:github_token]', 'auth']);
  assert.is(out.clean, clean);
  assert.is(out.n, 3);
  assert.is(out.nil, null);
});

test('redactJson returns the same reference when nothing matches', () => {
  for (const r of [redactor(), new Redactor(), new Redactor({ cacheCleanObjects: true })]) {
    const value = { a: [{ b: 'long text '.repeat(20) }, 'x'], c: { d: 1 } };
    assert.is(r.redactJson(value), value);
    assert.is(r.redactJson(value), value);
  }
});

test('redactJson keeps a "__proto__" key as data, not as a prototype', () => {
  const r = redactor();
  const input = JSON.parse(`{"__proto__": {"polluted": "${TOKEN}"}}`) as Record<string, unknown>;
  const out = r.redactJson(input) as Record<string, { polluted: string }>;
  assert.is(Object.getPrototypeOf(out), Object.prototype);
  assert.is(Object.getOwnPropertyDescriptor(out, '__proto__')?.value.polluted, '[redacted:github_token]');
});

test('a newly registered secret is found in objects and strings already seen clean', () => {
  const r = new Redactor({ cacheCleanObjects: true });
  r.register('unrelated-secret-value', 'other');
  const long = `prefix ${'z'.repeat(100)} LATE-SECRET-0001`;
  const value = { text: long };
  assert.is(r.redactJson(value), value);
  assert.is(r.redactString(long), long);
  r.register('LATE-SECRET-0001', 'late');
  assert.is(r.redactJson(value).text, `prefix ${'z'.repeat(100)} [redacted:late]`);
  assert.is(r.redactString(long), `prefix ${'z'.repeat(100)} [redacted:late]`);
});

test('redactError redacts message, stack, cause and extra properties', () => {
  const r = redactor();
  const cause = new Error(`inner ${TOKEN}`);
  const error = Object.assign(new Error(`request failed with Authorization: Bearer ${TOKEN}`, { cause }), {
    status: 401,
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  assert.ok(error.stack?.includes(TOKEN), 'fixture: the stack holds the secret');
  const out = r.redactError(error);
  assert.instance(out, Error);
  assert.is(out.message, 'request failed with Authorization: Bearer [redacted:github_token]');
  assert.ok(out.stack?.includes('[redacted:github_token]'));
  assert.not.ok(out.stack?.includes(TOKEN));
  assert.is((out.cause as Error).message, 'inner [redacted:github_token]');
  const extra = out as unknown as { status: number; headers: { authorization: string } };
  assert.is(extra.status, 401);
  assert.is(extra.headers.authorization, 'Bearer [redacted:github_token]');
  assert.is(r.redactError(`thrown string ${TOKEN}`).message, 'thrown string [redacted:github_token]');
});

test('redactingWriter redacts a secret split across writes and flushes held text', () => {
  const r = redactor();
  const written: string[] = [];
  const writer = r.redactingWriter((text) => written.push(text));
  writer.write('hello ');
  writer.write(`token=${TOKEN.slice(0, 10)}`);
  writer.write(`${TOKEN.slice(10)} done\n`);
  writer.write('tail ghp_');
  writer.flush();
  const all = written.join('');
  assert.is(all, 'hello token=[redacted:github_token] done\ntail ghp_');
  assert.ok(written.every((chunk) => !chunk.includes(TOKEN.slice(0, 10))));
  assert.is(written[0], 'hello ');
});

test('canary: no helper output contains a registered canary', () => {
  const r = new Redactor();
  r.register(CANARY, 'canary');
  const forms = [
    CANARY,
    JSON.stringify(CANARY),
    Buffer.from(CANARY).toString('base64'),
    Buffer.from(`x:${CANARY}`).toString('base64url'),
    encodeURIComponent(CANARY),
    Buffer.from(CANARY).toString('hex'),
  ];
  const outputs: string[] = [];
  for (const form of forms) {
    outputs.push(r.redactString(`<${form}>`));
    outputs.push(JSON.stringify(r.redactJson({ [form]: [form, { nested: form }] })));
    const error = r.redactError(new Error(form, { cause: new Error(form) }));
    outputs.push(error.message, error.stack ?? '', (error.cause as Error).message);
    const writer = r.redactingWriter((text) => outputs.push(text));
    for (const char of form) writer.write(char);
    writer.flush();
  }
  const decoded = outputs.flatMap((o) => [o, Buffer.from(o, 'base64').toString('latin1'), Buffer.from(o, 'hex').toString('latin1')]);
  for (const text of decoded) {
    assert.not.ok(text.includes(CANARY), `canary leaked in ${JSON.stringify(text).slice(0, 80)}`);
    assert.not.ok(text.includes('sk-canary-XYZ0123'), 'a canary prefix leaked');
  }
});

test.run();
