// The emulated API server's storage: JSON objects under /registry/... in the control plane's real etcd,
// read through etcd's JSON gateway (keys and values base64), each with its mod revision (the
// resourceVersion the API serves).
import type { EtcdClient } from './etcd.js';

export const b64 = (s: string) => Buffer.from(s).toString('base64');
export const unb64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');

/** A stored object and its etcd mod revision. */
export interface Stored<T> {
  value: T;
  rev: string;
}

type RawKv = { value?: string; mod_revision?: string };

const decode = <T>(kvs: RawKv[] | undefined): Stored<T>[] =>
  (kvs ?? []).filter((kv) => kv.value).map((kv) => ({ value: JSON.parse(unb64(kv.value!)) as T, rev: String(kv.mod_revision ?? '0') }));

/** The object at `key`, undefined when there is none. */
export async function readKey<T>(etcd: EtcdClient, key: string): Promise<Stored<T> | undefined> {
  return decode<T>((await etcd.get(key)).kvs as RawKv[] | undefined)[0];
}

/** Every object under `prefix` (ending in '/'), in key order. */
export async function readPrefix<T>(etcd: EtcdClient, prefix: string): Promise<Stored<T>[]> {
  // range [prefix, prefix with its last byte + 1): every key that starts with it
  const end = prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
  return decode<T>((await etcd.call('kv/range', { key: b64(prefix), range_end: b64(end) })).kvs as RawKv[] | undefined);
}

/**
 * Put `value` at `key` in one transaction, only if the key is still at `modRevision` ('0': only if it
 * does not exist): the new revision, or undefined when another write came first.
 */
export async function putIfAt(etcd: EtcdClient, key: string, value: unknown, modRevision: string): Promise<string | undefined> {
  const k = b64(key);
  const compare = modRevision === '0' ? { key: k, target: 'CREATE', result: 'EQUAL', create_revision: '0' } : { key: k, target: 'MOD', result: 'EQUAL', mod_revision: modRevision };
  const r = await etcd.call('kv/txn', { compare: [compare], success: [{ request_put: { key: k, value: b64(JSON.stringify(value)) } }] });
  return r.succeeded ? revisionOf(r) : undefined;
}

/** The etcd revision of a write's answer (the new resourceVersion). */
export const revisionOf = (r: Record<string, unknown>): string => String((r.header as { revision?: string } | undefined)?.revision ?? '0');
