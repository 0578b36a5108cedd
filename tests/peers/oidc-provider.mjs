// A real OpenID provider for Portico's tests: `oidc-provider` (pinned in package.json) on a free
// port of 127.0.0.1, with one confidential client, a few users carrying an organization claim,
// and its development interactions (a login form that takes any password, then a consent form).
//
// Usage: node oidc-provider.mjs '<json options>'; prints one line
// `oidc provider listening on http://127.0.0.1:PORT` when it accepts connections.
//
// Options (all optional): redirectUris, postLogoutRedirectUris, clientId, clientSecret,
// accessTokenTtl (seconds), refreshTokenTtl (seconds), idTokenTtl (seconds), resource (the
// resource indicator access tokens are issued for, as JWTs), backchannelLogoutUri (the client's
// `backchannel_logout_uri`, with `backchannel_logout_session_required`: signing out at the
// provider then posts a logout token there).
//
// Test-only controls (not part of OpenID Connect): GET /__test/stats → how many tokens the token
// endpoint issued per grant type, which refresh tokens were presented more than once, and how
// the back-channel logout calls went; POST /__test/sign with a JSON body
// `{"claims": {…}, "key": "provider" | "impostor", "header": {…}}` → `{"token": "…"}`: the
// claims signed RS256 under the provider's key id, with its own key or with another key
// ("impostor"), so a test can hand Portico logout tokens no provider would issue.
import http from 'node:http';
import crypto from 'node:crypto';
import Provider from 'oidc-provider';

const options = JSON.parse(process.argv[2] || '{}');
const RESOURCE = options.resource || 'urn:portico:managers';

const USERS = {
  alice: { name: 'Alice', email: 'alice@acme.example', org: 'Acme' },
  bob: { name: 'Bob', email: 'bob@globex.example', org: 'Globex' },
  frank: { name: 'Frank', email: 'frank@initech.example', org: 'Initech' },
  // No organization claim: Portico must refuse the sign-in with a clear page.
  nora: { name: 'Nora', email: 'nora@nowhere.example' },
};

const stats = {
  authorization_code: 0,
  refresh_token: 0,
  reused_refresh_tokens: 0,
  backchannel: { success: 0, error: 0, errors: [] },
};
const presented = new Set();

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'test-key-1', use: 'sig', alg: 'RS256' };
// Another key that claims the provider's key id (POST /__test/sign with "key": "impostor").
const impostorKey = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, configuration());
  provider.proxy = false;
  provider.on('grant.success', (ctx) => {
    const grant = ctx.oidc.params && ctx.oidc.params.grant_type;
    if (grant in stats) stats[grant] += 1;
  });
  provider.on('backchannel.success', () => {
    stats.backchannel.success += 1;
  });
  provider.on('backchannel.error', (_ctx, error) => {
    stats.backchannel.error += 1;
    stats.backchannel.errors.push(error.message);
  });
  provider.on('grant.error', (ctx, error) => {
    process.stderr.write(`grant error: ${error.message} ${error.error_description || ''}\n`);
  });
  provider.use(async (ctx, next) => {
    if (ctx.path === '/token' && ctx.method === 'POST') {
      // Count refresh tokens presented twice: rotation makes a second use fail, and Portico
      // must never send one.
      await next();
      const token = ctx.oidc && ctx.oidc.params && ctx.oidc.params.refresh_token;
      if (token) {
        if (presented.has(token)) stats.reused_refresh_tokens += 1;
        presented.add(token);
      }
      return;
    }
    if (ctx.path === '/__test/stats') {
      ctx.body = stats;
      return;
    }
    if (ctx.path === '/__test/sign' && ctx.method === 'POST') {
      const chunks = [];
      for await (const chunk of ctx.req) chunks.push(chunk);
      const { claims, key, header } = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      ctx.body = { token: sign(claims, key === 'impostor' ? impostorKey : privateKey, header) };
      return;
    }
    await next();
  });
  server.on('request', provider.callback());
  process.stdout.write(`oidc provider listening on ${issuer}\n`);
});

// A compact JWS, RS256, under the provider's key id.
function sign(claims, key, header = {}) {
  const encode = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const input = `${encode({ alg: 'RS256', kid: signingKey.kid, typ: 'logout+jwt', ...header })}.${encode(claims)}`;
  const signature = crypto.sign('sha256', Buffer.from(input), key).toString('base64url');
  return `${input}.${signature}`;
}

function configuration() {
  const accessTokenTtl = options.accessTokenTtl || 300;
  return {
    clients: [{
      client_id: options.clientId || 'portico',
      client_secret: options.clientSecret || 'portico-test-secret',
      redirect_uris: options.redirectUris || ['http://localhost/auth/callback'],
      post_logout_redirect_uris: options.postLogoutRedirectUris || ['http://localhost/login'],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      ...(options.backchannelLogoutUri ? {
        backchannel_logout_uri: options.backchannelLogoutUri,
        backchannel_logout_session_required: true,
      } : {}),
    }],
    // oidc-provider's outgoing calls (the back-channel logout) refuse special-use addresses,
    // loopback included, against SSRF; the Portico under test listens on 127.0.0.1.
    fetch: (url, fetchOptions) => {
      const { dispatcher, ...rest } = fetchOptions;
      return globalThis.fetch(url, rest);
    },
    jwks: { keys: [signingKey] },
    cookies: { keys: ['portico-test-provider-cookie-key'] },
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username', 'org'],
      email: ['email', 'email_verified'],
    },
    // The ID token carries the profile claims even though an access token is issued too
    // (Portico reads the user from the ID token, not from the userinfo endpoint).
    conformIdTokenClaims: false,
    findAccount: async (_ctx, id) => {
      const user = USERS[id];
      if (!user) return undefined;
      return {
        accountId: id,
        claims: async () => ({
          sub: id,
          preferred_username: id,
          name: user.name,
          email: user.email,
          email_verified: true,
          ...(user.org ? { org: user.org } : {}),
        }),
      };
    },
    features: {
      devInteractions: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      backchannelLogout: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: 'openid profile email',
          audience: RESOURCE,
          accessTokenTTL: accessTokenTtl,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
    // The managers map the token to their user by the username claim (and a slave to its
    // organization of the same name).
    extraTokenClaims: async (_ctx, token) => {
      const user = USERS[token.accountId] || {};
      return {
        preferred_username: token.accountId,
        name: user.name,
        ...(user.org ? { org: user.org } : {}),
      };
    },
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: true,
    pkce: { required: () => true },
    ttl: {
      AccessToken: accessTokenTtl,
      IdToken: options.idTokenTtl || 3600,
      RefreshToken: options.refreshTokenTtl || 86400,
      Grant: 86400,
      Session: 86400,
      Interaction: 600,
      AuthorizationCode: 60,
    },
  };
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
