/** Pieces every self-contained HTML report shares: inlined browser builds and safe embedding of data. */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

/** A package's browser build, found beside the file its `require` export names. */
export function browserBuild(pkg: string, file: string): string {
  return readFileSync(join(dirname(require.resolve(pkg)), file), 'utf8');
}

/** Chart.js and its annotation plugin, as <script> elements (the plugin registers itself). */
export function chartScripts(): string {
  return `<script>${browserBuild('chart.js', 'chart.umd.min.js')}</script>\n<script>${browserBuild('chartjs-plugin-annotation', 'chartjs-plugin-annotation.min.js')}</script>`;
}

/** JSON safe inside <script>: no `</script>`, no `<!--`, no line separators that end a JS string. */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
