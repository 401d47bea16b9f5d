// The OpenID provider the portal signs in with in tests and with `make run SSO=1`:
// node-oidc-provider (OpenID Certified), its own login page (devInteractions: any password),
// accounts and their groups read from ACCOUNTS_FILE at every sign-in, so a test changes a
// person's groups between two logins by rewriting the file.
//
// Environment: PORT, ISSUER (default http://127.0.0.1:PORT), CLIENTS (JSON array of client
// metadata) or CLIENTS_FILE (the same in a file), ACCOUNTS_FILE (JSON {login: {email, name, groups}}; groups null = no claim),
// ID_TOKEN_TTL (seconds, default 600).
import { readFileSync } from "node:fs";
import Provider from "oidc-provider";

const port = Number(process.env.PORT || 9400);
const issuer = process.env.ISSUER || `http://127.0.0.1:${port}`;
const clients = JSON.parse(
  process.env.CLIENTS || (process.env.CLIENTS_FILE ? readFileSync(process.env.CLIENTS_FILE, "utf8") : "[]"),
);
const accountsFile = process.env.ACCOUNTS_FILE;
const idTokenTtl = Number(process.env.ID_TOKEN_TTL || 600);

function accounts() {
  return accountsFile ? JSON.parse(readFileSync(accountsFile, "utf8")) : {};
}

const provider = new Provider(issuer, {
  clients,
  scopes: ["openid", "email", "profile", "groups", "offline_access"],
  claims: {
    openid: ["sub"],
    email: ["email", "email_verified"],
    profile: ["name", "preferred_username"],
    groups: ["groups"],
  },
  // The groups claim goes into the ID token too, as Keycloak's group mapper does.
  conformIdTokenClaims: false,
  ttl: { IdToken: idTokenTtl, AccessToken: 600, Session: 3600, Interaction: 600, Grant: 3600 },
  pkce: { required: () => true, methods: ["S256"] },
  features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
  // First-party portal: no consent screen, the requested scopes are granted.
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope(ctx.oidc.requestParamScopes ? [...ctx.oidc.requestParamScopes].join(" ") : "openid");
    grant.addOIDCClaims(["groups", "email", "name", "preferred_username"]);
    await grant.save();
    return grant;
  },
  async findAccount(ctx, id) {
    const account = accounts()[id];
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        const claims = { sub: id, email: account.email, email_verified: true, name: account.name, preferred_username: id };
        if (account.groups !== null && account.groups !== undefined) claims.groups = account.groups;
        return claims;
      },
    };
  },
});
provider.proxy = false;
provider.listen(port, "127.0.0.1", () => {
  console.log(`oidc provider listening on ${issuer}`);
});
