// A real OpenID Provider (panva's oidc-provider) for jwtguard's interoperability tests.
//
//   PORT=8123 node tests/interop/provider.mjs
//
// Serves http://127.0.0.1:$PORT as issuer (no trailing slash). Test configuration only:
// in-memory storage, generated keys, a test user logged in without a password.
//
// Resources (RFC 8707 resource indicators; every access token is an RFC 9068 JWT):
//   https://api.example.test    scopes read:messages write:messages, lifetime $ACCESS_TOKEN_TTL (60 s)
//   https://other.example.test  the same scopes: tokens for "another API"
//   https://short.example.test  lifetime $SHORT_ACCESS_TOKEN_TTL (2 s): the expiry test waits it out
//   https://opaque.example.test opaque access tokens (not JWTs): only introspection tells their claims
// Clients (secret: "<client_id>-secret"):
//   cc-rs256, cc-ps256, cc-es256, cc-eddsa  client_credentials; their tokens are signed with that algorithm
//   web-app                                 authorization_code + refresh_token (rotated on every use), ES256
// DPoP (RFC 9449): a token request that carries a DPoP proof gets an access token bound to the proof's
//   key (cnf.jkt, token_type DPoP); without a proof, a bearer token as before. Proofs: ES256 or EdDSA.
// Introspection (RFC 7662, POST /token/introspection) and revocation (RFC 7009, POST /token/revocation):
//   any confidential client may introspect any token; a client revokes its own tokens.
// Interactions: GET /interaction/:uid logs the test user "test-user" in and grants what the client
//   asked for, with no page: it stands in for a login UI, the protocol around it is oidc-provider's.
// Admin routes (loopback test hooks):
//   POST /admin/rotate  new key per algorithm, published before the old ones, signing from now on
//   POST /admin/retire  stop publishing every key but the current ones
//   GET  /admin/stats   {"jwks": <JWKS requests served>, "kids": {alg: signing kid}, "published": [kid, ...]}
// The provider stops on SIGTERM, and with EXIT_ON_STDIN_CLOSE=1 when its stdin closes (the tests set it).

import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';

import Provider, { errors } from 'oidc-provider';

const PORT = Number.parseInt(process.env.PORT ?? '', 10);
if (!Number.isInteger(PORT) || PORT <= 0 || PORT > 65535) {
  console.error('set PORT to the port to listen on');
  process.exit(2);
}
const ISSUER = `http://127.0.0.1:${PORT}`;
const ACCESS_TOKEN_TTL = Number.parseInt(process.env.ACCESS_TOKEN_TTL ?? '60', 10);
const SHORT_ACCESS_TOKEN_TTL = Number.parseInt(process.env.SHORT_ACCESS_TOKEN_TTL ?? '2', 10);

const API_SCOPES = 'read:messages write:messages';
const RESOURCES = {
  'https://api.example.test': ACCESS_TOKEN_TTL,
  'https://other.example.test': ACCESS_TOKEN_TTL,
  'https://short.example.test': SHORT_ACCESS_TOKEN_TTL,
  'https://opaque.example.test': ACCESS_TOKEN_TTL,
};
const OPAQUE_RESOURCE = 'https://opaque.example.test';
const ALGORITHMS = ['RS256', 'PS256', 'ES256', 'EdDSA'];
const CLIENT_ALGORITHM = {
  'cc-rs256': 'RS256',
  'cc-ps256': 'PS256',
  'cc-es256': 'ES256',
  'cc-eddsa': 'EdDSA',
  'web-app': 'ES256',
};
const REDIRECT_URI = 'http://127.0.0.1/callback';
const TEST_USER = 'test-user';
const COOKIE_KEYS = [randomBytes(32).toString('base64url')];

// -- keys -------------------------------------------------------------------------------

function generate(alg) {
  const [type, options] = {
    RS256: ['rsa', { modulusLength: 2048 }],
    PS256: ['rsa', { modulusLength: 2048 }],
    ES256: ['ec', { namedCurve: 'P-256' }],
    EdDSA: ['ed25519', {}],
  }[alg];
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), kid: `${alg.toLowerCase()}-${randomUUID()}`, alg, use: 'sig' };
}

let published = ALGORITHMS.map(generate); // the keys in the JWKS
let signing = Object.fromEntries(published.map((key) => [key.alg, key.kid])); // alg -> kid that signs

// -- the provider ------------------------------------------------------------------------

function configuration() {
  return {
    jwks: { keys: published },
    clients: [
      ...Object.keys(CLIENT_ALGORITHM)
        .filter((id) => id.startsWith('cc-'))
        .map((id) => ({
          client_id: id,
          client_secret: `${id}-secret`,
          grant_types: ['client_credentials'],
          response_types: [],
          redirect_uris: [],
        })),
      {
        client_id: 'web-app',
        client_secret: 'web-app-secret',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: [REDIRECT_URI],
      },
    ],
    scopes: ['openid', 'offline_access'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      dPoP: { enabled: true }, // RFC 9449: a token request with a DPoP proof gets a token bound to its key (cnf.jkt)
      introspection: {
        enabled: true,
        allowedPolicy: async (ctx, client, token) => client.clientAuthMethod !== 'none' || token.clientId === client.clientId,
      },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        useGrantedResource: () => true, // a refresh without "resource" gets a JWT for the granted one
        getResourceServerInfo(ctx, resource, client) {
          if (!(resource in RESOURCES)) {
            throw new errors.InvalidTarget();
          }
          const alg = CLIENT_ALGORITHM[client.clientId];
          if (resource === OPAQUE_RESOURCE) {
            return { scope: API_SCOPES, audience: resource, accessTokenTTL: RESOURCES[resource], accessTokenFormat: 'opaque' };
          }
          return {
            scope: API_SCOPES,
            audience: resource,
            accessTokenTTL: RESOURCES[resource],
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg, kid: signing[alg] } },
          };
        },
      },
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    findAccount: (ctx, id) => ({ accountId: id, claims: () => ({ sub: id }) }),
    rotateRefreshToken: true, // every refresh spends the token; reusing a spent one revokes the grant
    cookies: { keys: COOKIE_KEYS },
    ttl: {
      AccessToken: (ctx, token) => token.resourceServer?.accessTokenTTL ?? ACCESS_TOKEN_TTL,
      ClientCredentials: (ctx, token) => token.resourceServer?.accessTokenTTL ?? ACCESS_TOKEN_TTL,
      AuthorizationCode: 60,
      IdToken: 3600,
      Interaction: 600,
      Session: 3600,
      Grant: 3600,
      RefreshToken: 3600,
    },
    clientDefaults: { id_token_signed_response_alg: 'ES256' },
  };
}

let provider = new Provider(ISSUER, configuration());
let callback = provider.callback();

function replaceProvider() {
  // oidc-provider fixes its keys when it is built: a key change is a new instance with the same
  // configuration (as a deployment restarts with a new key set). Storage is shared in memory.
  provider = new Provider(ISSUER, configuration());
  callback = provider.callback();
}

// -- the test user's "login page" --------------------------------------------------------

async function interact(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { params } = details;
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: TEST_USER, clientId: params.client_id });
  const requested = new Set(String(params.scope ?? '').split(' ').filter(Boolean));
  grant.addOIDCScope([...requested].filter((s) => s === 'openid' || s === 'offline_access').join(' '));
  for (const resource of [params.resource].flat().filter(Boolean)) {
    grant.addResourceScope(resource, [...requested].filter((s) => API_SCOPES.split(' ').includes(s)).join(' '));
  }
  const grantId = await grant.save();
  await provider.interactionFinished(
    req,
    res,
    { login: { accountId: TEST_USER }, consent: { grantId } },
    { mergeWithLastSubmission: false },
  );
}

// -- admin -------------------------------------------------------------------------------

let jwksRequests = 0;

function json(res, status, body) {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) });
  res.end(payload);
}

function admin(req, res, path) {
  if (req.method === 'POST' && path === '/admin/rotate') {
    const fresh = ALGORITHMS.map(generate);
    published = [...fresh, ...published];
    signing = Object.fromEntries(fresh.map((key) => [key.alg, key.kid]));
    replaceProvider();
  } else if (req.method === 'POST' && path === '/admin/retire') {
    const current = new Set(Object.values(signing));
    published = published.filter((key) => current.has(key.kid));
    replaceProvider();
  } else if (!(req.method === 'GET' && path === '/admin/stats')) {
    json(res, 404, { error: 'not_found' });
    return;
  }
  json(res, 200, { jwks: jwksRequests, kids: signing, published: published.map((key) => key.kid) });
}

const server = createServer((req, res) => {
  const path = new URL(req.url, ISSUER).pathname;
  if (path.startsWith('/admin/')) {
    admin(req, res, path);
  } else if (path.startsWith('/interaction/') && req.method === 'GET') {
    interact(req, res).catch((error) => {
      console.error(error);
      if (!res.headersSent) json(res, 500, { error: 'server_error' });
    });
  } else {
    if (path === '/jwks') jwksRequests += 1;
    callback(req, res);
  }
});

server.listen(PORT, '127.0.0.1');

function stop() {
  server.close();
  server.closeAllConnections();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
if (process.env.EXIT_ON_STDIN_CLOSE === '1') {
  // The tests hold a pipe to stdin: when the test process goes away, however abruptly, so does the provider.
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
}
