/** The client credentials the servers take, as NATS clients pass them: what `backup`, `restore` and `prune` log in with. */
import type { ClientAuth } from "./resolve.ts";

interface ClientCredentials {
  user?: string;
  pass?: string;
  token?: string;
}

export function clientCredentials(auth: ClientAuth): ClientCredentials {
  if (auth.kind === "user") return { user: auth.app.user, pass: auth.app.password };
  return auth.kind === "token" ? { token: auth.token } : {};
}
