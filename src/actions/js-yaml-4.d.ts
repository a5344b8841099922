/**
 * js-yaml 4, installed as `js-yaml-4` beside js-yaml 5 (the runbook loader's, for its source
 * positions), reads kubeconfigs for the x509 action: 4.4× faster on their long base64 scalars
 * (BENCHMARKS.md, fleet cert-check). It ships no types; this is the part used.
 */
declare module 'js-yaml-4' {
  /** js-yaml 4's default schema (YAML 1.1-like: merge keys, timestamps); throws a YAMLException with the position; an empty text gives undefined */
  export function load(text: string, options?: { filename?: string }): unknown;
}
