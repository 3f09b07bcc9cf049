'use strict';
// The CommonJS entry point. Statecraft is an ES module: Node.js 20.19 and later (22.12 and later on
// 22) load it with require(), since none of its modules awaits at top level. Earlier versions refuse,
// and their own error would not say how to load it instead.
try {
  module.exports = require('./index.js');
} catch (error) {
  if (error?.code !== 'ERR_REQUIRE_ESM') throw error;
  const refusal = new Error(
    `statecraft is an ES module, and this Node.js (${process.version}) cannot load an ES module with require(). ` +
      "Import it instead: `import { defineAgent } from 'statecraft'` in an ES module (a .mjs file, or \"type\": \"module\" in package.json), " +
      "or `const { defineAgent } = await import('statecraft')` in CommonJS. Or upgrade to Node.js 20.19 or later (22.12 or later on 22), where require('statecraft') works.",
    { cause: error },
  );
  refusal.code = 'ERR_REQUIRE_ESM';
  throw refusal;
}
