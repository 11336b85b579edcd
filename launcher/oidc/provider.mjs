// A local OpenID provider for the login tests and `run-local --login`: npm `oidc-provider` on
// loopback with one confidential client (exact redirect URI and post-logout redirect URI,
// client_secret_basic, refresh tokens), users with one password, its own login, consent and
// logout pages, and RS256 JWT access tokens for one audience, living OIDC_ACCESS_TOKEN_TTL
// seconds (short in the tests, so that sessions refresh while they run). Everything comes from the environment the launcher (launcher/src/identity_provider.rs) sets,
// including the signing key, which the launcher makes fresh for each run and never writes to
// disk (so a test can sign tokens with it too: expired, wrong audience, wrong issuer).
import { createPrivateKey, randomBytes, timingSafeEqual } from 'node:crypto';
import * as querystring from 'node:querystring';

import Provider from 'oidc-provider';

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`provider.mjs: ${name} is not set`);
    process.exit(2);
  }
  return value;
}

const port = Number(required('OIDC_PORT'));
const issuer = required('OIDC_ISSUER');
const audience = required('OIDC_AUDIENCE');
const clientId = required('OIDC_CLIENT_ID');
const clientSecret = required('OIDC_CLIENT_SECRET');
const redirectUri = required('OIDC_REDIRECT_URI');
const postLogoutRedirectUri = required('OIDC_POST_LOGOUT_REDIRECT_URI');
// [{"login": "ada", "name": "Ada Lovelace"}, ...]
const users = new Map(JSON.parse(required('OIDC_USERS')).map((u) => [u.login, u.name || u.login]));
const password = required('OIDC_PASSWORD');
const accessTokenTTL = Number(process.env.OIDC_ACCESS_TOKEN_TTL || '600');

const privateKey = createPrivateKey(required('OIDC_SIGNING_KEY_PEM'));
const signingKey = {
  ...privateKey.export({ format: 'jwk' }), kid: required('OIDC_SIGNING_KEY_ID'), use: 'sig', alg: 'RS256',
};

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [redirectUri],
    post_logout_redirect_uris: [postLogoutRedirectUri],
    grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    scope: 'openid profile offline_access api',
  }],
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  // Dapr's OAuth2 middleware sends no PKCE challenge (the app's session login does: S256).
  pkce: { required: () => false },
  scopes: ['openid', 'profile', 'offline_access', 'api'],
  claims: { openid: ['sub'], profile: ['name'] },
  // The name in the id_token too (the app's session login reads who signed in from it).
  conformIdTokenClaims: false,
  // A refresh token with every code the client exchanges (with offline_access or not), as
  // Entra ID gives one with offline_access.
  async issueRefreshToken(ctx, client) {
    return client.grantTypeAllowed('refresh_token');
  },
  // Every refresh rotates the refresh token, as Entra ID's do; using one that was rotated
  // already revokes the whole grant (oidc-provider's reuse detection), which is what two
  // replicas refreshing one session at once would run into.
  rotateRefreshToken: () => true,
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    // Every access token is a JWT for the one API audience, whether or not the client names it
    // (Dapr's middleware sends no `resource` parameter).
    resourceIndicators: {
      enabled: true,
      defaultResource: () => audience,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'api',
        audience,
        accessTokenTTL,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  async findAccount(ctx, id) {
    if (!users.has(id)) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, name: users.get(id) }) };
  },
  // The person's name goes into the access token too, so the app can show it.
  async extraTokenClaims(ctx, token) {
    return users.has(token.accountId) ? { name: users.get(token.accountId) } : undefined;
  },
});

// The development login page accepts any name and password: check them here, before it.
// The body is read once and handed on as text, which oidc-provider accepts.
provider.use(async (ctx, next) => {
  if (ctx.method === 'POST' && /^\/interaction\/[^/]+$/.test(ctx.path) && ctx.is('application/x-www-form-urlencoded')) {
    const chunks = [];
    for await (const chunk of ctx.req) chunks.push(chunk);
    const raw = Buffer.concat(chunks).toString();
    const form = querystring.parse(raw);
    if (form.prompt === 'login' && !(users.has(String(form.login ?? '')) && same(form.password, password))) {
      ctx.status = 401;
      ctx.type = 'html';
      ctx.body = `<!doctype html><p id="error">Wrong user or password.</p><a href="${ctx.path}">Try again</a>`;
      return;
    }
    ctx.req.body = raw;
  }
  await next();
});

function same(given, expected) {
  const a = Buffer.from(String(given ?? ''));
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});

process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
