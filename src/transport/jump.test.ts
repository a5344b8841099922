/** The jump pool: which hosts share a connection to a bastion. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JumpPool } from './jump.js';
import { SshTransport, type SshConnectOptions } from './ssh.js';
import type { JumpHop } from './ssh-options.js';

test('hosts share a bastion connection only when they would log in there alike (user, keys, agent)', async (t) => {
  const opened: SshConnectOptions[] = [];
  // no network: a connection that opens at once and closes when asked
  t.mock.method(SshTransport, 'connect', async (o: SshConnectOptions) => {
    opened.push(o);
    return { close: async () => undefined } as unknown as SshTransport;
  });
  const hop = (keys: string[], user = 'alice'): JumpHop[] => [{ alias: 'gate', host: 'gate', port: 22, user, privateKeyPaths: keys }];
  const pool = new JumpPool();
  const held = [
    await pool.through(hop(['/k/db']), {}, 'db-1'),
    await pool.through(hop(['/k/db']), {}, 'db-2'),
    // a hop with no keys of its own is offered each target's: another target's key is another login
    await pool.through(hop(['/k/web']), {}, 'web-1'),
    await pool.through(hop(['/k/db'], 'bob'), {}, 'db-3'),
    await pool.through(hop(['/k/db']), { agent: '/run/agent.sock' }, 'db-4'),
  ];
  assert.deepEqual(
    opened.map((o) => `${o.user} ${(o.privateKeyPaths ?? []).join(',')} ${String(o.agent ?? '')}`),
    ['alice /k/db ', 'alice /k/web ', 'bob /k/db ', 'alice /k/db /run/agent.sock'],
  );
  assert.equal(pool.size, 4);
  held.forEach((h) => h.release());
  assert.equal(pool.size, 0);
});
