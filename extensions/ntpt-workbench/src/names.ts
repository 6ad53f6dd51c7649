/**
 * Pure helpers shared by the panel and the drag-and-drop code (no DOM, no JupyterLab imports).
 */

/** The library's entry-name rule (mirrors `workbench/library/names.py`; the server re-checks). */
export const MAX_NAME = 64;
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
export const NAME_RULE = `1..${MAX_NAME} characters of [A-Za-z0-9_.-], starting with a letter or digit, without '..'`;

/** Why `name` is not a valid entry name, or null when it is. */
export function nameProblem(name: string): string | null {
  if (!name) {
    return 'the name is empty';
  }
  if (name.length > MAX_NAME) {
    return `the name has ${name.length} characters (at most ${MAX_NAME})`;
  }
  if (/[\u0000-\u001f\u007f]/.test(name)) {
    return 'the name contains control characters';
  }
  if (name.includes('/') || name.includes('\\')) {
    return 'the name contains a path separator';
  }
  if (name.includes('..')) {
    return "the name contains '..'";
  }
  if (!NAME.test(name)) {
    return 'the name has characters outside [A-Za-z0-9_.-] or does not start with a letter or digit';
  }
  return null;
}

const KEYWORDS = new Set(
  (
    'False None True and as assert async await break class continue def del elif else except ' +
    'finally for from global if import in is lambda nonlocal not or pass raise return try while with yield'
  ).split(' ')
);

/** A Python identifier for the variable holding entry `name` (mirrors `function_name`; a
 * keyword gets a trailing underscore). */
export function variableName(name: string): string {
  const ident = name.replace(/[^A-Za-z0-9_]/g, '_');
  return safeIdentifier(/^[A-Za-z_]/.test(ident) ? ident : `_${ident}`);
}

export function safeIdentifier(ident: string): string {
  return KEYWORDS.has(ident) ? `${ident}_` : ident;
}

/** The lines that load `name@version` in a kernel (with the import). */
export function loadCode(
  name: string,
  version: number,
  loadLocation: string | null,
  variable: string = variableName(name)
): string {
  variable = safeIdentifier(variable);
  const where = loadLocation === null ? '' : JSON.stringify(loadLocation);
  return (
    'from workbench.library import Library\n' +
    `${variable} = Library(${where}).load(${JSON.stringify(name)}, version=${version})`
  );
}

/** Where and what to insert so that `text` lands as whole lines in `source` near character
 * `offset`: after the line holding `offset`, or before it when `offset` is at the very start of
 * a line; into an empty source as is. No line is ever split. `from`/`to` delimit the inserted
 * code in the new source. */
export function insertLines(
  source: string,
  offset: number,
  text: string
): { at: number; insert: string; replace: number; from: number; to: number } {
  const body = text.replace(/\n+$/, '');
  if (source.trim() === '') {
    return { at: 0, insert: body, replace: source.length, from: 0, to: body.length };
  }
  const clamped = Math.max(0, Math.min(offset, source.length));
  const lineStart = source.lastIndexOf('\n', clamped - 1) + 1;
  if (clamped === lineStart && clamped < source.length) {
    return { at: lineStart, insert: body + '\n', replace: 0, from: lineStart, to: lineStart + body.length };
  }
  let lineEnd = source.indexOf('\n', clamped);
  if (lineEnd === -1) {
    lineEnd = source.length;
  }
  return { at: lineEnd, insert: '\n' + body, replace: 0, from: lineEnd + 1, to: lineEnd + 1 + body.length };
}

/** Apply an `insertLines` result to a string (what the editor model does). */
export function applyInsert(source: string, ins: { at: number; insert: string; replace: number }): string {
  return source.slice(0, ins.at) + ins.insert + source.slice(ins.at + ins.replace);
}

/** Entries matching a filter query (every word must occur in the name, signature, task,
 * tasks, tags or architecture; case-insensitive). */
export function matches(
  entry: {
    name: string;
    signature: string;
    task?: string | null;
    tasks?: string[];
    tags?: string[];
    architecture?: string | null;
  },
  query: string
): boolean {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) {
    return true;
  }
  const hay = [
    entry.name,
    entry.signature,
    entry.task ?? '',
    ...(entry.tasks ?? []),
    ...(entry.tags ?? []),
    entry.architecture ?? ''
  ]
    .join(' ')
    .toLowerCase();
  return words.every(w => hay.includes(w));
}

/** `{accuracy: 0.9712}` -> `accuracy 0.971` (at most `max` metrics). */
export function formatMetrics(metrics: Record<string, number>, max = 3): string {
  return Object.entries(metrics)
    .slice(0, max)
    .map(([k, v]) => `${k} ${formatNumber(v)}`)
    .join(' · ');
}

export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) {
    return String(v);
  }
  if (Number.isInteger(v)) {
    return String(v);
  }
  return Math.abs(v) >= 1000 || Math.abs(v) < 0.001 ? v.toExponential(2) : v.toPrecision(3);
}
