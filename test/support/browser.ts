// The real headless Chromium (Debian's `chromium`) for the pages runbook writes: the DOM after the
// page's scripts ran, and a PNG screenshot. Set RUNBOOK_SCREENSHOT_DIR to keep the screenshots
// (docs/img/ holds the ones the README shows, made this way).
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runProcess } from './run.js';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function chromiumArgs(profileDir: string): string[] {
  return ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-extensions', `--user-data-dir=${profileDir}`, '--virtual-time-budget=10000', '--hide-scrollbars'];
}

/** The page's DOM once its scripts ran (a page that throws marks itself, see src/report/html-kit.ts). */
export async function renderedDom(html: string, workDir: string): Promise<{ code: number; out: string }> {
  return runProcess('chromium', [...chromiumArgs(join(workDir, 'chromium')), '--dump-dom', `file://${html}`], { cwd: workDir, timeout: 90_000 });
}

/** A screenshot of the page as drawn; returns the PNG's path and size (its width and height from the IHDR chunk). */
export async function screenshot(html: string, workDir: string, name: string, size = { width: 1400, height: 1000 }): Promise<{ path: string; width: number; height: number; bytes: number; out: string }> {
  const path = join(workDir, name);
  const r = await runProcess('chromium', [...chromiumArgs(join(workDir, 'chromium-shot')), `--window-size=${size.width},${size.height}`, `--screenshot=${path}`, `file://${html}`], { cwd: workDir, timeout: 90_000 });
  let png: Buffer;
  try {
    png = readFileSync(path);
  } catch {
    return { path, width: 0, height: 0, bytes: 0, out: r.out };
  }
  const keep = process.env.RUNBOOK_SCREENSHOT_DIR;
  if (keep) {
    mkdirSync(keep, { recursive: true });
    copyFileSync(path, join(keep, name));
  }
  const isPng = png.subarray(0, 8).equals(PNG_SIGNATURE);
  return { path, width: isPng ? png.readUInt32BE(16) : 0, height: isPng ? png.readUInt32BE(20) : 0, bytes: png.length, out: r.out };
}
