// A real OpenID Provider on loopback for ckanext-dgaaccounts tests and development:
// panva's certified oidc-provider, configured from a JSON file (see thaid.json, digitalid.json).
//
//   node dev/oidc/provider.mjs CONFIG.json
//   (DGA_OIDC_NODE_MODULES = the node_modules that dev/oidc/install.sh prints)
//
// CONFIG: { "issuer": "http://127.0.0.1:PORT", "port": PORT, "host": "127.0.0.1",
//           "clients": [{client_id, client_secret, redirect_uris, post_logout_redirect_uris,
//                        id_token_signed_response_alg}],
//           "claims": {scope: [claim, ...]}, "accounts": {login: {claim: value}},
//           "jwks": {"keys": [private JWK, ...]} (optional: generated when absent),
//           "idTokenTtl": seconds (optional) }
// Sign-in and consent use the library's development interactions (any password; the login
// must be one of "accounts"). Authorization code flow only, PKCE (S256) required.
// DGA_OIDC_HOST overrides "host" (docker: dev/oidc/compose.yml).
// Prints "listening <issuer>" once ready. Development and tests only.
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const modules = process.env.DGA_OIDC_NODE_MODULES;
if (!modules) {
  console.error('set DGA_OIDC_NODE_MODULES (the path dev/oidc/install.sh prints)');
  process.exit(2);
}
const { default: Provider } = await import(
  pathToFileURL(join(modules, 'oidc-provider', 'lib', 'index.js')).href);

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));

function generatedKeys() {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  return [
    { ...rsa, kid: randomUUID(), alg: 'RS256', use: 'sig' },
    { ...ec, kid: randomUUID(), alg: 'ES256', use: 'sig' },
  ];
}

const accounts = config.accounts || {};
const claims = config.claims || { openid: ['sub'] };

const provider = new Provider(config.issuer, {
  clients: config.clients.map((c) => ({
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    ...c,
  })),
  jwks: { keys: (config.jwks && config.jwks.keys) || generatedKeys() },
  claims,
  scopes: Object.keys(claims),
  conformIdTokenClaims: false, // the requested claims go into the ID token
  pkce: { required: () => true, methods: ['S256'] },
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  ttl: config.idTokenTtl ? { IdToken: config.idTokenTtl } : undefined,
  cookies: { keys: [randomUUID()] },
  async findAccount(ctx, id) {
    const account = accounts[id];
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() { return { sub: account.sub || id, ...account }; },
    };
  },
});
provider.proxy = false;

// DGA_OIDC_HOST: the address to listen on, over the config's (0.0.0.0 in a container).
const host = process.env.DGA_OIDC_HOST || config.host || '127.0.0.1';
const server = provider.listen(config.port, host, () => {
  console.log(`listening ${config.issuer}`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
