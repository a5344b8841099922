/** The worker thread x509-pool.ts starts: answers each parse request (x509-parse.ts) in order. */
import { parentPort } from 'node:worker_threads';
import { parseRequest, type ParseRequest } from './x509-parse.js';

parentPort?.on('message', (m: { id: number; req: ParseRequest }) => parentPort!.postMessage({ id: m.id, reply: parseRequest(m.req) }));
