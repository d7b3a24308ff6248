// Test-only OpenID Connect provider for Recaudo's integration tests.
//
// A real, certified provider (the `oidc-provider` package) with two static
// clients, fresh signing keys on every start and a login page that a plain
// HTTP client can drive. See README.md for the requests, step by step.
//
//   node server.mjs --port 39555 --audience recaudo-api \
//     --redirect-uri http://127.0.0.1:39556/auth/callback
//
// stdout carries exactly one line, `ready http://127.0.0.1:<port>`, once the
// provider listens; everything else (notices, errors) goes to stderr. The
// process exits when its stdin closes (the parent died or dropped the pipe),
// on SIGTERM, SIGINT or SIGHUP.

import * as crypto from 'node:crypto';
import * as http from 'node:http';
import * as querystring from 'node:querystring';
import { parseArgs } from 'node:util';

import Provider, { errors } from 'oidc-provider';

// oidc-provider prints its notices with console.info, i.e. to stdout; keep
// stdout for the ready line alone.
console.log = console.error;
console.info = console.error;

const HOST = '127.0.0.1';

function usage(message) {
  process.stderr.write(`server.mjs: ${message}\n`
    + 'usage: node server.mjs --port P --audience A --redirect-uri U [--redirect-uri U2 ...]\n'
    + '                       [--resource R] [--scopes "s1 s2"]\n');
  process.exit(2);
}

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      port: { type: 'string' },
      audience: { type: 'string' },
      'redirect-uri': { type: 'string', multiple: true },
      resource: { type: 'string' },
      scopes: { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (err) {
  usage(err.message);
}

if (args.port === undefined || !/^\d+$/.test(args.port) || Number(args.port) > 65535) {
  usage('--port P is required (0 picks a free port)');
}
if (!args.audience) usage('--audience A is required');
if (!args['redirect-uri']?.length) usage('--redirect-uri U is required');
for (const uri of args['redirect-uri']) {
  if (!URL.canParse(uri)) usage(`--redirect-uri ${uri} is not an absolute URL`);
}

const AUDIENCE = args.audience;
// RFC 8707 (and oidc-provider) only accept absolute URIs as `resource`
// values. An audience that is one (https://api.example, urn:x:y) is its own
// resource indicator; any other (e.g. `recaudo-api`) gets `urn:recaudo:<audience>`,
// unless --resource names one, and `resource=<audience>` is taken as an alias of
// it (see normalizeTokenRequest). The access token's `aud` is always the audience.
const RESOURCE = args.resource ?? (URL.canParse(AUDIENCE) ? AUDIENCE : `urn:recaudo:${AUDIENCE}`);
if (!URL.canParse(RESOURCE)) usage(`--resource ${RESOURCE} is not an absolute URI`);
// Scopes of the API. Without --scopes every scope a client asks for (other
// than the OpenID Connect ones) is granted; with it, only those listed are
// (others are silently dropped from the token, as oidc-provider does).
const API_SCOPES = args.scopes === undefined
  ? undefined
  : args.scopes.split(/[\s,]+/).filter(Boolean);

const OIDC_SCOPES = new Set(['openid', 'offline_access', 'profile', 'email']);

// --- signing keys, fresh on every start --------------------------------------

function signingJwk(type, options, alg) {
  const { privateKey } = crypto.generateKeyPairSync(type, options);
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: `${alg.toLowerCase()}-${crypto.randomBytes(6).toString('hex')}`, alg, use: 'sig' };
}

const jwks = {
  keys: [
    signingJwk('rsa', { modulusLength: 2048 }, 'RS256'),
    signingJwk('ec', { namedCurve: 'P-256' }, 'ES256'),
  ],
};

// --- accounts: any login is an account ---------------------------------------

function account(login) {
  return {
    accountId: login,
    async claims() {
      return { sub: login, email: `${login}@example.test`, name: login };
    },
  };
}

// --- resource server (the Recaudo API) ---------------------------------------

function requestedApiScopes(ctx) {
  // At the token endpoint an authorization code (or refresh token) carries
  // the scope of the authorization request; elsewhere it is the request's.
  const { params, entities } = ctx.oidc;
  const scope = params?.scope ?? entities?.AuthorizationCode?.scope ?? entities?.RefreshToken?.scope;
  const requested = String(scope ?? '').split(' ').filter(Boolean);
  return requested.filter((scope) => !OIDC_SCOPES.has(scope)
    && (API_SCOPES === undefined || API_SCOPES.includes(scope)));
}

function resourceServer(ctx) {
  const scope = API_SCOPES === undefined ? requestedApiScopes(ctx) : API_SCOPES;
  return {
    audience: AUDIENCE,
    scope: scope.join(' '),
    accessTokenFormat: 'jwt',
    accessTokenTTL: 10 * 60,
    jwt: { sign: { alg: 'RS256' } },
  };
}

// --- the provider ------------------------------------------------------------

function configuration() {
  return {
    clients: [
      {
        client_id: 'recaudo-etl',
        client_secret: 'etl-secret',
        client_name: 'Recaudo ETL',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
      },
      {
        client_id: 'recaudo-console',
        client_secret: 'console-secret',
        client_name: 'Recaudo console',
        application_type: 'web',
        grant_types: ['authorization_code'],
        response_types: ['code'],
        redirect_uris: args['redirect-uri'],
        token_endpoint_auth_method: 'client_secret_basic',
        id_token_signed_response_alg: 'RS256',
      },
    ],
    jwks,
    // Unsigned cookies: a test carries _interaction, _interaction_resume and
    // _session by hand, without their .sig companions. Over http they are not
    // Secure (oidc-provider sets Secure only when the request is https).
    cookies: {
      keys: [],
      long: { httpOnly: true, sameSite: 'lax' },
      short: { httpOnly: true, sameSite: 'lax' },
    },
    claims: {
      openid: ['sub'],
      profile: ['name'],
      email: ['email'],
    },
    scopes: ['openid', 'profile', 'email', 'offline_access'],
    // Put the scope claims (name, email) into the id_token too, not only at
    // the userinfo endpoint.
    conformIdTokenClaims: false,
    findAccount: async (_ctx, sub) => account(sub),
    // Login and consent in one go: whatever an authorization request asks
    // for is granted the moment the user is logged in, so no consent prompt
    // ever shows.
    loadExistingGrant: async (ctx) => {
      const { oidc } = ctx;
      const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(oidc.client.clientId);
      let grant = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
      if (!grant || grant.accountId !== oidc.account.accountId) {
        grant = new oidc.provider.Grant({ accountId: oidc.account.accountId, clientId: oidc.client.clientId });
      }
      const oidcScopes = [...oidc.requestParamOIDCScopes];
      if (oidcScopes.length) grant.addOIDCScope(oidcScopes.join(' '));
      const claims = [...oidc.requestParamClaims];
      if (claims.length) grant.addOIDCClaims(claims);
      for (const [indicator, server] of Object.entries(oidc.resourceServers)) {
        const scopes = [...oidc.requestParamScopes].filter((scope) => server.scopes.has(scope));
        if (scopes.length) grant.addResourceScope(indicator, scopes.join(' '));
      }
      await grant.save();
      return grant;
    },
    responseTypes: ['code'],
    clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
    pkce: {
      // Every authorization request must carry code_challenge (S256).
      required: () => true,
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // recaudo-etl gets a token for the API without naming it; other
        // clients only when they pass `resource`.
        defaultResource: async (_ctx, client, oneOf) => {
          if (oneOf) return oneOf;
          return client?.clientId === 'recaudo-etl' ? RESOURCE : undefined;
        },
        // An authorization code requested with `resource` yields an access
        // token for that resource without naming it again at /token.
        useGrantedResource: async () => true,
        getResourceServerInfo: async (ctx, indicator) => {
          if (indicator === RESOURCE) return resourceServer(ctx);
          throw new errors.InvalidTarget(`unknown resource indicator; this provider knows ${RESOURCE}`);
        },
      },
      rpInitiatedLogout: { enabled: true },
      userinfo: { enabled: true },
    },
    ttl: {
      AccessToken: 10 * 60,
      AuthorizationCode: 2 * 60,
      ClientCredentials: 10 * 60,
      IdToken: 10 * 60,
      Interaction: 10 * 60,
      Session: 60 * 60,
      Grant: 60 * 60,
      RefreshToken: 60 * 60,
    },
    renderError: async (ctx, out) => {
      ctx.type = 'json';
      ctx.body = out;
    },
  };
}

// --- the interaction pages ---------------------------------------------------

function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('request body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function send(res, status, type, body, headers = {}) {
  res.writeHead(status, {
    'Content-Type': type,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(body);
}

async function interaction(provider, req, res, uid, action) {
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (err) {
    send(res, 400, 'application/json', JSON.stringify({
      error: err.error ?? 'invalid_request', error_description: err.error_description ?? err.message,
    }));
    return;
  }
  if (details.uid !== uid) {
    send(res, 400, 'application/json', JSON.stringify({
      error: 'invalid_request', error_description: 'interaction uid does not match the _interaction cookie',
    }));
    return;
  }

  if (action === undefined && req.method === 'GET') {
    const { prompt, params } = details;
    const html = `<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>Sign-in</title></head>
<body>
<h1>Sign-in to ${escapeHtml(params.client_id)}</h1>
<p>prompt: ${escapeHtml(prompt.name)}; scope: ${escapeHtml(params.scope ?? '')}</p>
<form method="post" action="/interaction/${escapeHtml(uid)}/login">
  <label>Login <input type="text" name="login" autofocus></label>
  <button type="submit">Sign-in</button>
</form>
<form method="post" action="/interaction/${escapeHtml(uid)}/abort">
  <button type="submit">Cancel</button>
</form>
</body>
</html>
`;
    send(res, 200, 'text/html; charset=utf-8', html);
    return;
  }

  if (action === 'login' && req.method === 'POST') {
    const form = querystring.parse(await readBody(req));
    const login = typeof form.login === 'string' ? form.login.trim() : '';
    if (!login) {
      send(res, 400, 'application/json', JSON.stringify({ error: 'invalid_request', error_description: 'login is required' }));
      return;
    }
    // The grant (the requested scopes and claims) is made by loadExistingGrant
    // when the authorization request resumes.
    await provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
    return;
  }

  if (action === 'abort' && req.method === 'POST') {
    await readBody(req);
    await provider.interactionFinished(req, res, {
      error: 'access_denied', error_description: 'End-User aborted interaction',
    }, { mergeWithLastSubmission: false });
    return;
  }

  send(res, 405, 'application/json', JSON.stringify({ error: 'invalid_request', error_description: 'method not allowed' }));
}

// Two conveniences on top of oidc-provider, for token requests only:
// - client_secret_post for clients registered with client_secret_basic:
//   oidc-provider accepts only a client's one registered method, so a request
//   that carries client_id and client_secret in the body (and no Authorization
//   header) becomes the same request with Basic auth;
// - `resource=<audience>` where the audience is not an absolute URI (which
//   RFC 8707 requires) stands for the audience's resource indicator.
async function normalizeTokenRequest(req) {
  if (!String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) return;
  const body = querystring.parse(await readBody(req));
  const { client_id: id, client_secret: secret } = body;
  if (req.headers.authorization === undefined && typeof id === 'string' && typeof secret === 'string') {
    const encode = (value) => encodeURIComponent(value).replace(/%20/g, '+');
    req.headers.authorization = `Basic ${Buffer.from(`${encode(id)}:${encode(secret)}`).toString('base64')}`;
    delete body.client_id;
    delete body.client_secret;
  }
  body.resource = aliasResource(body.resource);
  if (body.resource === undefined) delete body.resource;
  // Already read: oidc-provider takes the parsed body from req.body.
  req.body = body;
}

function aliasResource(value) {
  if (Array.isArray(value)) return value.map(aliasResource);
  return value === AUDIENCE && !URL.canParse(AUDIENCE) ? RESOURCE : value;
}

// The same alias in an authorization request's query.
function normalizeAuthorizationRequest(req, url) {
  const resources = url.searchParams.getAll('resource');
  if (resources.includes(AUDIENCE) && !URL.canParse(AUDIENCE)) {
    url.searchParams.delete('resource');
    for (const value of resources) url.searchParams.append('resource', aliasResource(value));
    req.url = `${url.pathname}${url.search}`;
  }
}

// --- start -------------------------------------------------------------------

function exit(code) {
  process.exit(code);
}

process.on('SIGTERM', () => exit(0));
process.on('SIGINT', () => exit(0));
process.on('SIGHUP', () => exit(0));
// The parent holds our stdin; when it closes the pipe (or dies) we go too.
process.stdin.on('end', () => exit(0));
process.stdin.on('close', () => exit(0));
process.stdin.on('error', () => exit(0));
process.stdin.resume();

let handler = (_req, res) => send(res, 503, 'text/plain', 'starting\n');
const server = http.createServer((req, res) => handler(req, res));
server.on('error', (err) => {
  process.stderr.write(`server.mjs: ${err.message}\n`);
  exit(1);
});

server.listen(Number(args.port), HOST, () => {
  const { port } = server.address();
  const issuer = `http://${HOST}:${port}`;
  const provider = new Provider(issuer, configuration());

  for (const event of ['server_error', 'authorization.error', 'grant.error', 'introspection.error', 'revocation.error', 'userinfo.error']) {
    provider.on(event, (_ctx, err) => {
      process.stderr.write(`oidc-provider ${event}: ${err.name}: ${err.message}${err.error_description ? ` (${err.error_description})` : ''}\n`);
    });
  }

  const callback = provider.callback();
  handler = async (req, res) => {
    try {
      const url = new URL(req.url, issuer);
      const match = /^\/interaction\/([^/]+)(?:\/(login|abort))?\/?$/.exec(url.pathname);
      if (match) {
        await interaction(provider, req, res, match[1], match[2]);
        return;
      }
      if (req.method === 'POST' && url.pathname === '/token') {
        await normalizeTokenRequest(req);
      } else if (req.method === 'GET' && url.pathname === '/auth') {
        normalizeAuthorizationRequest(req, url);
      }
      callback(req, res);
    } catch (err) {
      process.stderr.write(`server.mjs: ${err.stack ?? err}\n`);
      if (!res.headersSent) send(res, 500, 'application/json', JSON.stringify({ error: 'server_error' }));
      else res.destroy();
    }
  };

  process.stderr.write(`oidc test provider: issuer ${issuer}, audience ${AUDIENCE}, resource ${RESOURCE}, `
    + `redirect_uris ${args['redirect-uri'].join(' ')}\n`);
  process.stdout.write(`ready ${issuer}\n`);
});
