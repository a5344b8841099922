/** Printing diagnostics for people (file:line:col: message) and machines (--json). */
import { colors as pc } from '../report/colors.js';
import { formatDiagnostic, type Diagnostic } from '../errors.js';

export function printDiagnostics(diagnostics: readonly Diagnostic[], stream: NodeJS.WritableStream = process.stderr): void {
  for (const d of diagnostics) {
    const text = formatDiagnostic(d);
    stream.write((d.severity === 'error' ? pc.red(text) : pc.yellow(text)) + '\n');
  }
}

export function countBySeverity(diagnostics: readonly Diagnostic[]): { errors: number; warnings: number } {
  return {
    errors: diagnostics.filter((d) => d.severity === 'error').length,
    warnings: diagnostics.filter((d) => d.severity === 'warning').length,
  };
}
