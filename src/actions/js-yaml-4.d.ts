/**
 * js-yaml 4, installed as `js-yaml-4` beside js-yaml 5 (the runbook loader's, for its source
 * positions), reads kubeconfigs for the x509 action: 4.4× faster on their long base64 scalars
 * (BENCHMARKS.md, fleet cert-check). It ships no types; this is the part used.
 */
declare module 'js-yaml-4' {
  /** YAML 1.2 core schema load, as js-yaml 5's; throws a YAMLException with the position */
  export function load(text: string, options?: { filename?: string }): unknown;
}
