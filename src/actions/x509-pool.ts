/**
 * The x509 action's parsing, on one worker thread shared by every host and step of the process:
 * at hundreds of hosts the DER walks and kubeconfig YAML are a tenth of the client's CPU, and on the
 * main thread they delay every connection's next packet. The worker is started on the first request
 * and holds the process open only while a request waits. When it cannot start, or dies, requests
 * are answered inline (the same code, x509-parse.ts).
 */
import { Worker } from 'node:worker_threads';
import { parseRequest, type CertFacts, type CertMeta, type ClientCert, type ParseReply, type ParseRequest, type Parsed } from './x509-parse.js';

interface Waiting {
  req: ParseRequest;
  resolve(reply: ParseReply): void;
}

let worker: Worker | undefined;
/** set when the worker could not start or died (or a test asks): everything is parsed inline from then on */
let inline = false;
let nextId = 0;
const waiting = new Map<number, Waiting>();

function settle(id: number, reply: ParseReply): void {
  const w = waiting.get(id);
  waiting.delete(id);
  if (waiting.size === 0) worker?.unref();
  w?.resolve(reply);
}

/** The worker `w` is gone (or a message could not cross): what it still owed is parsed here. */
function fallBack(w: Worker): void {
  if (worker !== w) return; // an earlier worker's late event: the current one's requests are not its
  inline = true;
  worker = undefined;
  void w.terminate();
  for (const [id, req] of [...waiting]) settle(id, parseRequest(req.req));
}

function started(): Worker | undefined {
  if (inline) return undefined;
  if (worker) return worker;
  let w: Worker;
  try {
    w = new Worker(new URL('./x509-worker.js', import.meta.url));
  } catch {
    inline = true;
    return undefined;
  }
  worker = w;
  w.unref();
  w.on('message', (m: { id: number; reply: ParseReply }) => settle(m.id, m.reply));
  for (const event of ['error', 'messageerror', 'exit']) w.on(event, () => fallBack(w));
  return w;
}

/**
 * The bytes a request carries, each in a buffer of its own, moved to the worker rather than copied:
 * a Buffer is often a view into a larger one (Node's 8 KiB pool, an SFTP packet), and a copy of
 * the view would carry all of it.
 */
function owned(req: ParseRequest): { req: ParseRequest; moved: ArrayBuffer[] } {
  const moved: ArrayBuffer[] = [];
  const items = req.items.map((it) => {
    const data = new Uint8Array(it.data);
    moved.push(data.buffer);
    return { ...it, data };
  });
  // each item keeps its own shape, only its bytes are replaced: the request stays of its kind
  return { req: { ...req, items } as ParseRequest, moved };
}

function ask(req: ParseRequest): Promise<ParseReply> {
  const w = started();
  if (!w) return Promise.resolve(parseRequest(req));
  const id = nextId++;
  const { req: sent, moved } = owned(req);
  try {
    w.postMessage({ id, req: sent }, moved);
  } catch {
    // a message that cannot cross: parsed here, and the worker left to the others
    return Promise.resolve(parseRequest(req));
  }
  if (waiting.size === 0) w.ref();
  return new Promise((resolve) => waiting.set(id, { req, resolve }));
}

/** The worker's thread id while one parses (tests: the requests really leave this thread). */
export function parserThreadId(): number | undefined {
  return worker?.threadId;
}

/** Parse on the calling thread (or the worker again): for tests that count event-loop turns to see what a step waits on. */
export function parseInline(on: boolean): void {
  inline = on;
}

/** Each certificate's facts, or the step error it gives, in the order given. */
export async function parseCerts(items: { data: Buffer; meta: CertMeta }[], now: number): Promise<Parsed<CertFacts>[]> {
  if (items.length === 0) return [];
  const r = await ask({ op: 'certs', items, now });
  if (r.op !== 'certs') throw new Error('x509: the parser answered a kubeconfig request instead');
  return r.results;
}

/** Each kubeconfig's client certificates (x509-parse.ts kubeconfigClientCerts), or the step error it gives, in the order given. */
export async function parseKubeconfigs(items: { data: Buffer; kc: string }[], now: number): Promise<Parsed<ClientCert[]>[]> {
  if (items.length === 0) return [];
  const r = await ask({ op: 'kubeconfigs', items, now });
  if (r.op !== 'kubeconfigs') throw new Error('x509: the parser answered a certificate request instead');
  return r.results;
}
