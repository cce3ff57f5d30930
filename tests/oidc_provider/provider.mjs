// A real OpenID Connect provider (node's oidc-provider) for the single sign-on tests.
//
// Listens on 127.0.0.1 on a free port and prints one JSON line, {"issuer": "http://127.0.0.1:<port>"}.
// The client comes from the OIDC_CLIENT environment variable (JSON: client_id, client_secret,
// redirect_uris). No login form: the test chooses who signs in next with
// POST /_test/login-as {"sub": ..., "email": ..., "email_verified": ..., ...}, and the interaction
// signs that account in and grants the requested scopes (so requests can follow the redirects).
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import http from 'node:http';

import Provider from 'oidc-provider';

const client = JSON.parse(process.env.OIDC_CLIENT);
const accounts = new Map();
let nextLogin = null;

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256', kid: 'test-key' };

function configuration() {
  return {
    clients: [{
      client_id: client.client_id,
      client_secret: client.client_secret,
      redirect_uris: client.redirect_uris,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    jwks: { keys: [signingKey] },
    cookies: {
      keys: [randomBytes(32).toString('hex')],
      // Cookies are not separated by port on 127.0.0.1: names of our own.
      names: { session: 'op_session', interaction: 'op_interaction', resume: 'op_resume' },
    },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified', 'xms_edov'],
      profile: ['name'],
    },
    scopes: ['openid', 'email', 'profile'],
    features: { devInteractions: { enabled: false } },
    pkce: { required: () => true },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    findAccount: (ctx, sub) => {
      const claims = accounts.get(sub);
      return claims && { accountId: sub, claims: () => ({ ...claims, sub }) };
    },
    // The email claims go to the ID token too when the test says so (`in_id_token`), as Okta and
    // Entra ID do; otherwise the ID token carries only `sub` and the client asks userinfo.
    conformIdTokenClaims: !process.env.OIDC_CLAIMS_IN_ID_TOKEN,
  };
}

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString() || '{}');
}

async function interaction(provider, req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  if (prompt.name === 'login') {
    if (!nextLogin) {
      res.writeHead(409, { 'content-type': 'text/plain' }).end('no account chosen: POST /_test/login-as first');
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: nextLogin } }, { mergeWithLastSubmission: false });
    return;
  }
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
  if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

async function control(req, res) {
  if (req.method === 'POST' && req.url === '/_test/login-as') {
    const { sub, ...claims } = await readJson(req);
    accounts.set(sub, claims);
    nextLogin = sub;
    res.writeHead(204).end();
    return;
  }
  res.writeHead(404).end();
}

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, configuration());
  provider.on('server_error', (ctx, error) => console.error('server_error', error));
  const handle = provider.callback();
  server.on('request', (req, res) => {
    let handled;
    if (req.url.startsWith('/_test/')) handled = control(req, res);
    else if (req.url.startsWith('/interaction/')) handled = interaction(provider, req, res);
    else return handle(req, res);
    handled.catch((error) => {
      console.error(error);
      if (!res.headersSent) res.writeHead(500).end(String(error));
    });
  });
  console.log(JSON.stringify({ issuer }));
});

for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
