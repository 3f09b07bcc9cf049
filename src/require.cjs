'use strict';
// The CommonJS entry point. Statecraft is an ES module: Node.js 20.19 and later (22.12 and later
// on 22) load it with require(), since no module of it awaits at top level. Earlier versions cannot,
// and their own error would only say that the package has no CommonJS export.
if (!process.features.require_module) {
  const error = new Error(
    `statecraft is an ES module, and this Node.js (${process.version}) cannot load an ES module with require(). ` +
      "Import it instead: `import { defineAgent } from 'statecraft'` in an ES module (a .mjs file, or \"type\": \"module\" in package.json), " +
      "or `const { defineAgent } = await import('statecraft')` in CommonJS. Or upgrade to Node.js 20.19 or later, where require('statecraft') works.",
  );
  error.code = 'ERR_REQUIRE_ESM';
  throw error;
}
module.exports = require('./index.js');
