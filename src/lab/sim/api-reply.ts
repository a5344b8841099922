// What the emulated API server's resource handlers (nodes-api.ts, leases-api.ts) share on the HTTP side:
// the reply they return, the Failure Status body the real API server sends, the request body.
import type { IncomingMessage } from 'node:http';

/** An answer of the emulated API server: HTTP status and JSON body. */
export interface ApiReply {
  code: number;
  body: string;
}

/** A metav1.Status Failure as the real API server words it (`details` names the object, when there is one). */
export function status(code: number, reason: string, message: string, details?: Record<string, unknown>): ApiReply {
  return { code, body: JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code }) };
}

export async function readBody(req: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of req) text += String(chunk);
  return text;
}
