/**
 * Heap pacing for runs over many hosts. Measured at 750 connections (BENCHMARKS.md, "2,000 hosts
 * in one process"): what a run keeps alive is ~45 KiB per host (mostly ssh2's per-connection
 * state and the promises of steps in flight), but V8 lets the old generation grow to up to 4×
 * the live heap before the next full collection on a machine with this much memory. In-flight
 * objects of slow round trips survive the young generation and pile up there as garbage, so the
 * first run (more round trips) peaked far above what it kept. A growing factor of 1.3 collects
 * earlier; the live heap is unchanged. An operator's own `--heap-growing-percent` (node flags or
 * NODE_OPTIONS) wins.
 */
import { setFlagsFromString } from 'node:v8';

export const HEAP_GROWING_PERCENT = 30;

export function paceHeap(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): boolean {
  const given = [...execArgv, nodeOptions].some((a) => /--heap[-_]growing[-_]percent/.test(a));
  if (given) return false;
  // read by V8 at every full collection, so setting it after start-up takes effect
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  return true;
}
