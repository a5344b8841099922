/** A file mode as the four octal digits operators read (`0644`); its own module so that diff.ts needs nothing from util.ts. */
export function modeString(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}
