import type { NatsBlock } from "../types.ts";
import { Secret } from "../types.ts";
import type { ConfigInput } from "./input.ts";
import type { Credentials } from "../../settings/resolve.ts";
import { APP_ACCOUNT, SYSTEM_ACCOUNT } from "../accounts.ts";

const user = ({ user, password }: Credentials) => ({ user, password: new Secret(password) });

/**
 * Client auth. None: nothing (the global account, as before). Token: `authorization { token }`, still
 * the global account. User: accounts `APP` (JetStream) and, with a system user, `$SYS`. The app user
 * is in its own account rather than the global one because nats-server before 2.9.23/2.10.2 lets
 * clients without credentials into the global account when the only other account is the system one
 * (CVE-2023-47090), and Debian ships 2.9.10.
 */
export function authBlock({ settings }: ConfigInput): NatsBlock {
  const auth = settings.clientAuth;
  if (auth.kind === "none") return {};
  if (auth.kind === "token") return { authorization: { token: new Secret(auth.token) } };
  const accounts: NatsBlock = { [APP_ACCOUNT]: { jetstream: "enabled", users: [user(auth.app)] } };
  if (!auth.system) return { accounts };
  accounts[SYSTEM_ACCOUNT] = { users: [user(auth.system)] };
  return { accounts, system_account: SYSTEM_ACCOUNT };
}
