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

/**
 * Wraps a page's drawing code (it returns how many charts it drew): `el` builds elements with
 * text only (data is never markup), and the outcome lands on <html> as data-rendered="N" or
 * data-error, where a person's browser shows nothing but a test can read it.
 */
export function pageScript(body: string): string {
  return `(function () {
  const root = document.documentElement;
  const el = (tag, attrs, text) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  };
  try {
    root.dataset.rendered = String((function () {
${body}
    })());
  } catch (e) {
    root.dataset.error = String(e && e.message || e);
    throw e;
  }
})();`;
}

export interface PageParts {
  title: string;
  style: string;
  /** markup between the heading and the data (already escaped by the caller) */
  intro: string;
  /** id of the element the script draws into */
  mainId: string;
  /** JSON blocks by element id, read by the script with JSON.parse(textContent) */
  data: Record<string, unknown>;
  /** the drawing code, see pageScript */
  script: string;
}

/** One self-contained report page: no network, Chart.js inlined, data as JSON, never as markup. */
export function htmlPage(p: PageParts): string {
  const blocks = Object.entries(p.data).map(([id, v]) => `<script type="application/json" id="${escapeHtml(id)}">${scriptJson(v)}</script>`).join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(p.title)}</title>
<style>${p.style}</style>
</head>
<body>
<h1>${escapeHtml(p.title)}</h1>
${p.intro}
<main id="${escapeHtml(p.mainId)}"></main>
${blocks}
${chartScripts()}
<script>${pageScript(p.script)}</script>
</body>
</html>
`;
}
