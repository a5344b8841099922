/**
 * Who runs this process, by the password database (getpwuid), as ssh(1) and sudo take it: looked
 * up once per process, since each lookup reads /etc/passwd and a 500-host run asks for every host.
 * Undefined when this uid has no entry (a container's arbitrary uid): each caller says what that means.
 */
import { userInfo } from 'node:os';

let looked = false;
let name: string | undefined;

export function passwdLogin(): string | undefined {
  if (!looked) {
    looked = true;
    try {
      name = userInfo().username;
    } catch {
      name = undefined;
    }
  }
  return name;
}
