// The simulated nodes' listener ports lie outside the kernel's ephemeral range, as a real etcd's 2379
// does: a client socket's local port (the kernel picks it from that range) blocks a listener's bind
// on the same address, which made a restarted etcd crash-loop in the lab (cert-renew-e2e ha-docker).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { PORT_HOLD_ADDRESS, distinctFreePorts, ephemeralPortRange, firstFreePort, freePort, listenerPortRanges } from './ports.js';

const inRange = (p: number, [lo, hi]: [number, number]) => p >= lo && p <= hi;

/**
 * A port outside the ephemeral range that binds on every address now, found without freePort (which
 * would hand it out): no client socket takes such a port meanwhile, as one could a just-closed port-0 one.
 */
async function unusedListenerPort(hosts: string[]): Promise<number> {
  const [lo, hi] = listenerPortRanges()[0]!;
  for (;;) {
    const port = lo + Math.floor(Math.random() * (hi - lo + 1));
    const bound = await Promise.all(hosts.map((h) => listen(port, h).catch(() => undefined)));
    await Promise.all(bound.map((srv) => srv && new Promise((r) => srv.close(r))));
    if (bound.every(Boolean)) return port;
  }
}

function listen(port: number, host = '127.0.0.1'): Promise<Server> {
  return new Promise((resolve, reject) => {
    const srv = createServer((s) => s.on('error', () => undefined));
    srv.once('error', reject);
    srv.listen(port, host, () => resolve(srv));
  });
}

function dial(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

test('the ephemeral range is read from the kernel, and the listener ranges leave it out', () => {
  assert.deepEqual(ephemeralPortRange('32768\t60999\n'), [32768, 60999]);
  assert.deepEqual(ephemeralPortRange('garbage'), [32768, 60999]);
  assert.deepEqual(listenerPortRanges([32768, 60999]), [[10000, 32767], [61000, 65535]]);
  assert.deepEqual(listenerPortRanges([1024, 65535]), []);
  assert.deepEqual(listenerPortRanges([10000, 40000]), [[40001, 65535]]);
});

test('a client socket takes its local port from the ephemeral range, and that port then cannot be listened on (even with SO_REUSEADDR)', async () => {
  const srv = await listen(0);
  const clients: Socket[] = [];
  try {
    for (let i = 0; i < 20; i++) clients.push(await dial((srv.address() as { port: number }).port));
    const range = ephemeralPortRange();
    for (const c of clients) assert.ok(inRange(c.localPort!, range), `client port ${c.localPort} outside ${range.join('-')}`);
    // what etcd met when it restarted after such a socket took its port: bind: address already in use
    await assert.rejects(listen(clients[0]!.localPort!), /EADDRINUSE/);
  } finally {
    for (const c of clients) c.destroy();
    srv.close();
  }
});

test('freePort: outside the ephemeral range, free on every address given, never the same port twice', async () => {
  const range = ephemeralPortRange();
  const ports = await Promise.all(Array.from({ length: 30 }, () => freePort('127.0.0.1', '127.0.0.2')));
  ports.push(...(await distinctFreePorts([undefined, '127.0.0.1', '127.0.0.2'])));
  assert.equal(new Set(ports).size, ports.length, `a port handed out twice: ${ports.join(' ')}`);
  for (const p of ports) assert.ok(!inRange(p, range) && p >= 10000 && p <= 65535, `port ${p} is in the ephemeral range ${range.join('-')}`);
  // free: a listener binds it on both addresses
  const a = await listen(ports[0]!, '127.0.0.1');
  const b = await listen(ports[0]!, '127.0.0.2');
  a.close();
  b.close();
});

test('a port held on 127.0.0.1 is not handed out for a host that listens there too, though it is free on the host\'s own address', async () => {
  const held = await listen(0, '127.0.0.1');
  const heldPort = (held.address() as { port: number }).port;
  const freeNow = await unusedListenerPort(['127.0.0.1', '127.0.0.2']);
  try {
    // what the old probe (a port-0 bind on the host's address alone) could not see: the port is free there
    const onHost = await listen(heldPort, '127.0.0.2');
    await new Promise((r) => onHost.close(r));
    assert.equal(await firstFreePort([heldPort, freeNow], ['127.0.0.2', '127.0.0.1']), freeNow);
    // and it is handed out once only
    assert.equal(await firstFreePort([freeNow], ['127.0.0.1']), undefined);
  } finally {
    held.close();
  }
});

test('freePort refuses an address this machine does not have, instead of calling every port busy', async () => {
  // 192.0.2.1 is TEST-NET-1 (RFC 5737): never local, and a bind sends nothing anywhere
  await assert.rejects(freePort('127.0.0.1', '192.0.2.1'), /EADDRNOTAVAIL/);
  // and a wildcard listener, which every hold would block, at once
  await assert.rejects(freePort('0.0.0.0'), /lab listeners bind a specific address/);
});

/** Runs `code` (an ES module body with `ports` imported) in another node process; resolves with its first line of output. */
function inAnotherProcess(code: string): { line: Promise<string>; kill: () => void } {
  const src = `import * as ports from ${JSON.stringify(new URL('./ports.js', import.meta.url).href)};\n${code}`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', src], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.split('\n')[0]!);
    });
    // 'close', not 'exit': its output may still be on the way when it exits
    child.once('close', (code) => reject(new Error(`the other process exited (${code}) before answering`)));
  });
  return { line, kill: () => void child.kill('SIGKILL') };
}

test('a port another test process handed out is not handed out here, even while nothing listens on it; once that process is gone, it is', async () => {
  // the other process hands out a port and keeps running, its listener not started (an etcd restarting)
  const holder = inAnotherProcess(`console.log(await ports.freePort('127.0.0.1', '127.0.0.2')); setInterval(() => undefined, 1000);`);
  let killed = false;
  try {
    const port = Number(await holder.line);
    assert.ok(port >= 10000, `the other process answered ${port}`);
    // nothing listens on it: a bind succeeds on both addresses...
    const a = await listen(port, '127.0.0.1');
    const b = await listen(port, '127.0.0.2');
    await Promise.all([a, b].map((s) => new Promise((r) => s.close(r))));
    // ...yet a third process does not hand it out, and neither does this one
    assert.equal(await inAnotherProcess(`console.log(String(await ports.firstFreePort([${port}], ['127.0.0.1'])));`).line, 'undefined');
    assert.equal(await firstFreePort([port], ['127.0.0.1']), undefined);
    holder.kill();
    killed = true;
    // the holder is gone (however it ended): its port is free for the others again
    let answer = '';
    for (let i = 0; i < 50 && answer !== String(port); i++) {
      answer = await inAnotherProcess(`console.log(String(await ports.firstFreePort([${port}], ['127.0.0.1'])));`).line;
      if (answer !== String(port)) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(answer, String(port));
  } finally {
    if (!killed) holder.kill();
  }
});

test('the port held for this process is on an address of its own: the listener it was handed out for binds on 127.0.0.1 and the host address', async () => {
  const port = await freePort('127.0.0.1', '127.0.0.3');
  const onHold = await listen(port, PORT_HOLD_ADDRESS).catch((e: Error) => e);
  if (!(onHold instanceof Error)) await new Promise((r) => onHold.close(r));
  assert.match(String(onHold), /EADDRINUSE/, 'nothing holds the port on the hold address');
  const servers = [await listen(port, '127.0.0.1'), await listen(port, '127.0.0.3')];
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});
