// Runs Prism's validating proxy (`prism proxy …`, same arguments) with two transport fixes that
// leave validation untouched:
//  1. Upstream redirects are passed back instead of followed. The manager answers a successful
//     POST /login with 303; following it would validate (and return) the wrong response and
//     drop the session cookie.
//  2. Repeated Set-Cookie headers stay separate instead of being joined with commas, which makes
//     cookies with an Expires date unparseable.
'use strict';
const path = require('path');

const cliDir = path.dirname(require.resolve('@stoplight/prism-cli/package.json'));
const httpDir = path.dirname(require.resolve('@stoplight/prism-http/package.json', { paths: [cliDir] }));

// Prism's forwarder calls `node_fetch_1.default(...)` at request time, so replacing the export
// on the cached module is enough.
const nodeFetch = require(require.resolve('node-fetch', { paths: [httpDir] }));
const fetch = nodeFetch.default;
nodeFetch.default = (url, options) => fetch(url, { ...(options || {}), redirect: 'manual' });

// parseResponse calls `exports.parseResponseHeaders`, so the replacement is picked up too.
const parseResponse = require(path.join(httpDir, 'dist', 'utils', 'parseResponse.js'));
parseResponse.parseResponseHeaders = headers =>
  Object.fromEntries(
    Object.entries(headers).map(([name, values]) => [
      name,
      name.toLowerCase() === 'set-cookie' ? values : values.join(','),
    ]),
  );

process.argv = [process.argv[0], path.join(cliDir, 'dist', 'index.js'), ...process.argv.slice(2)];
require(path.join(cliDir, 'dist', 'index.js'));
