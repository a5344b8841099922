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

/** The worker is gone: what it still owed is parsed here. */
function fallBack(): void {
  inline = true;
  worker = undefined;
  for (const [id, w] of [...waiting]) settle(id, parseRequest(w.req));
}

function started(): Worker | undefined {
  if (inline) return undefined;
  if (worker) return worker;
  try {
    worker = new Worker(new URL('./x509-worker.js', import.meta.url));
  } catch {
    inline = true;
    return undefined;
  }
  worker.unref();
  worker.on('message', (m: { id: number; reply: ParseReply }) => settle(m.id, m.reply));
  worker.on('error', fallBack);
  worker.on('exit', fallBack);
  return worker;
}

function ask(req: ParseRequest): Promise<ParseReply> {
  const w = started();
  if (!w) return Promise.resolve(parseRequest(req));
  const id = nextId++;
  if (waiting.size === 0) w.ref();
  return new Promise((resolve) => {
    waiting.set(id, { req, resolve });
    w.postMessage({ id, req });
  });
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
