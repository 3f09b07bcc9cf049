import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UserError } from '../src/errors.ts';
import { readPriceFile } from '../src/model/priceFile.ts';

const dir = mkdtempSync(join(tmpdir(), 'statecraft-prices-'));
let files = 0;
const write = (text: string) => {
  const path = join(dir, `prices-${files++}.json`);
  writeFileSync(path, text);
  return path;
};

const refusal = (path: string): UserError => {
  try {
    readPriceFile(path);
  } catch (error) {
    assert.instance(error, UserError);
    return error as UserError;
  }
  throw new Error(`${path} was accepted`);
};

test('a well-formed file gives its models', () => {
  const path = write(JSON.stringify({ models: { a: { inputPerMTok: 1, outputPerMTok: 2, cachedInputPerMTok: 0.5, contextWindow: 1000, maxOutput: 100 } } }));
  assert.equal(readPriceFile(path), { a: { inputPerMTok: 1, outputPerMTok: 2, cachedInputPerMTok: 0.5, contextWindow: 1000, maxOutput: 100 } });
});

test('a missing file is named, with what to do', () => {
  const error = refusal(join(dir, 'nowhere.json'));
  assert.match(error.message, /nowhere\.json/);
  assert.match(error.message, /does not exist/);
  assert.match(error.message, /"models"/);
});

test('a file that is not JSON says so, with the parser\'s reason', () => {
  const error = refusal(write('{ "models": { "a": { inputPerMTok: 1 } } }'));
  assert.match(error.message, /is not valid JSON/);
  assert.match(error.message, /Fix it to the form/);
});

test('a bad field is named by its path, with what was found', () => {
  const bad = refusal(write(JSON.stringify({ models: { 'gpt-x': { inputPerMTok: '3', outputPerMTok: 2 } } })));
  assert.match(bad.message, /models\["gpt-x"\]\.inputPerMTok must be a finite number >= 0, found "3"/);
  const negative = refusal(write(JSON.stringify({ models: { m: { inputPerMTok: 1, outputPerMTok: -1 } } })));
  assert.match(negative.message, /models\.m\.outputPerMTok must be a finite number >= 0, found -1/);
  const missing = refusal(write(JSON.stringify({ models: { m: { inputPerMTok: 1 } } })));
  assert.match(missing.message, /models\.m\.outputPerMTok is missing/);
  const window = refusal(write(JSON.stringify({ models: { m: { inputPerMTok: 1, outputPerMTok: 1, contextWindow: 1.5 } } })));
  assert.match(window.message, /models\.m\.contextWindow must be a whole number of tokens, found 1.5/);
});

test('a misspelt field is named with the one meant', () => {
  const error = refusal(write(JSON.stringify({ models: { m: { inputPerMtok: 1, outputPerMTok: 1 } } })));
  assert.match(error.message, /unknown field "inputPerMtok" \(did you mean "inputPerMTok"\?\)/);
  const top = refusal(write(JSON.stringify({ model: {} })));
  assert.match(top.message, /unknown field "model" \(did you mean "models"\?\)/);
});

test.run();
