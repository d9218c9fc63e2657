// node-oidc-provider as an external OpenID provider for authgate's gateway
// tests (caddymodule/gateway_external_oidcprovider_test.go). The test
// installs package-lock.json's packages with npm ci, copies this file
// next to them, and runs it with AUTHGATE_OIDCP set to a JSON object:
//
//   { "port": 40001, "redirect_uri": "http://127.0.0.1:40002/.authgate/callback" }
//
// It prints "ready <issuer>" once it listens on 127.0.0.1:port.
//
// Clients:
//   gw       confidential (client_secret_basic, secret gw-secret), the
//            gateway's client: authorization code with PKCE, refresh tokens.
//   machine  confidential (secret machine-secret), client credentials for
//            the scope read, with JWT access tokens (typ at+jwt) for any
//            http://127.0.0.1:* resource (RFC 8707 resource indicators).
// Users: any login with any password (devInteractions); a user's email is
// <login>@node.example, name "<login> from node", groups ["node-users"].
// ID tokens issued with an access token carry only sub and protocol claims
// (conformIdTokenClaims), so a relying party reads the profile from
// userinfo.
import { generateKeyPairSync } from 'node:crypto';
import Provider, { errors } from 'oidc-provider';

const cfg = JSON.parse(process.env.AUTHGATE_OIDCP || '{}');
if (!cfg.port || !cfg.redirect_uri) {
  console.error('AUTHGATE_OIDCP must name port and redirect_uri');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${cfg.port}`;

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'node-k1', alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  jwks: { keys: [jwk] },
  cookies: { keys: ['authgate-e2e-cookie-key'] },
  clients: [
    {
      client_id: 'gw',
      client_secret: 'gw-secret',
      redirect_uris: [cfg.redirect_uri],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
    },
    {
      client_id: 'machine',
      client_secret: 'machine-secret',
      redirect_uris: [],
      grant_types: ['client_credentials'],
      response_types: [],
      scope: 'read',
    },
  ],
  scopes: ['openid', 'offline_access', 'profile', 'email', 'groups', 'read'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          email: `${id}@node.example`,
          email_verified: true,
          name: `${id} from node`,
          preferred_username: id,
          groups: ['node-users'],
        };
      },
    };
  },
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // Sign-in asks for no resource: its access token is for userinfo.
      defaultResource: async (ctx, client, oneOf) => oneOf,
      useGrantedResource: async () => false,
      getResourceServerInfo: async (ctx, resource) => {
        if (!resource.startsWith('http://127.0.0.1:')) {
          throw new errors.InvalidTarget();
        }
        return {
          scope: 'read',
          audience: resource,
          accessTokenTTL: 300,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  pkce: { required: () => true },
  ttl: { AccessToken: 300, IdToken: 300, AuthorizationCode: 60, Interaction: 300, Session: 3600, Grant: 3600 },
});

const server = provider.listen(cfg.port, '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
