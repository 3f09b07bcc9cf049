import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Redactor } from '../src/credentials/Redactor.ts';
import { secretEncodings } from '../src/credentials/secretEncodings.ts';

const CANARY = 'sk-canary-7Q2v9XfLmN4pR8tW1zK3';
const TRICKY = 'p@ss "word" \\ with/slash+plus & more';

function redactor(): Redactor {
  const r = new Redactor();
  r.register(CANARY, 'canary');
  r.register(TRICKY, 'db_password');
  r.register('hunter2', 'short');
  return r;
}

/** How the secrets may appear in a model's text: as they are, encoded, or cut into pieces. */
const texts: Record<string, string> = {
  raw: `The key is ${CANARY}, keep it.`,
  json: `{"password":${JSON.stringify(TRICKY)}}`,
  jsonTwice: JSON.stringify(JSON.stringify({ password: TRICKY })),
  url: `https://x.test/?p=${encodeURIComponent(TRICKY)}&q=1`,
  hex: `0x${Buffer.from(CANARY).toString('hex')} end`,
  HEX: `${Buffer.from(CANARY).toString('hex').toUpperCase()}`,
  base64: `Authorization: Basic ${Buffer.from(`user:${CANARY}`).toString('base64')}\n`,
  base64url: `token=${Buffer.from(`ab${TRICKY}`).toString('base64url')}.`,
  pieces: `{"a":"${CANARY.slice(0, 12)}","b":"${CANARY.slice(12)}"} and ${TRICKY.slice(3, 14)}`,
  twice: `${CANARY}${CANARY} ${CANARY}`,
  short: 'pw=hunter2; hunte hunter2',
};

function streamed(r: Redactor, chunks: string[]): { out: string; writes: string[] } {
  const stream = r.stream();
  const writes = chunks.map((chunk) => stream.write(chunk));
  return { out: writes.join('') + stream.end(), writes };
}

test('text cut at any one point streams out exactly as the whole text is redacted, in every encoding', () => {
  const r = redactor();
  for (const [name, text] of Object.entries(texts)) {
    const whole = r.redactString(text);
    assert.ok(whole.includes('[redacted:'), `fixture ${name}: the whole text holds a secret`);
    for (let cut = 0; cut <= text.length; cut++) {
      const { out, writes } = streamed(r, [text.slice(0, cut), text.slice(cut)]);
      assert.is(out, whole, `${name}, cut at ${cut}`);
      assert.ok(whole.startsWith(writes[0]!), `${name}, cut at ${cut}: the first write is settled text`);
    }
  }
});

test('text cut at any two points, or at every character, streams out as the whole text is redacted', () => {
  const r = redactor();
  for (const [name, text] of Object.entries(texts)) {
    const whole = r.redactString(text);
    for (let a = 1; a < text.length; a++) {
      for (let b = a; b < text.length; b++) {
        assert.is(streamed(r, [text.slice(0, a), text.slice(a, b), text.slice(b)]).out, whole, `${name}, cut at ${a} and ${b}`);
      }
    }
    assert.is(streamed(r, [...text]).out, whole, `${name}, one character a chunk`);
  }
});

test('a stream that breaks off releases no part of a secret it was holding', () => {
  const r = new Redactor();
  r.register(CANARY, 'x');
  for (const form of secretEncodings(CANARY)) {
    for (let end = 1; end <= form.text.length; end++) {
      const stream = r.stream();
      const out = stream.write('<<< ') + stream.write(form.text.slice(0, end)) + stream.abandon();
      const expected = end >= form.piece ? '<<< [redacted:x]' : '<<< ';
      assert.is(out, expected, `form ${form.text} broken off after ${end} characters`);
    }
  }
  // Abandoned, the stream starts afresh.
  const stream = r.stream();
  assert.is(stream.write('a sk-can') + stream.abandon(), 'a ');
  assert.is(stream.write('fresh text') + stream.end(), 'fresh text');
});

test('ordinary text is held back by a few characters at most, and not at all when no secret is known', () => {
  const none = new Redactor().stream();
  assert.is(none.write('any text at all'), 'any text at all');
  const stream = redactor().stream();
  const words = 'The quick brown fox jumps over the lazy dog, then asks for the weather in Paris and Oslo. '.repeat(5).split(/(?<= )/);
  let given = '';
  let released = '';
  for (const word of words) {
    given += word;
    released += stream.write(word);
    assert.ok(given.length - released.length < 16, `held ${given.length - released.length} characters after "${word}"`);
  }
  released += stream.end();
  assert.is(released, given);
});

test('a long run of secret text is held within bounds and still released only as labels', () => {
  const long = `${'Zq8'.repeat(300)}-END`;
  const r = new Redactor();
  r.register(long, 'blob');
  const stream = r.stream();
  let released = '';
  let silent = 0;
  for (const char of `start ${long} stop`) {
    const out = stream.write(char);
    released += out;
    silent = out === '' ? silent + 1 : 0;
    assert.ok(silent <= 256 + 16, `${silent} characters written without any released`);
  }
  released += stream.end();
  assert.ok(released.startsWith('start [redacted:blob]'), released.slice(0, 40));
  assert.ok(released.endsWith('[redacted:blob] stop'), released.slice(-40));
  assert.not.ok(/Zq8|q8Z|8Zq/.test(released), 'no piece of the secret is released as text');
});

test.run();
