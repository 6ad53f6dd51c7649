/**
 * Pure helpers (no DOM) that turn provenance into rows of text: the publish preview (what a new
 * version changes against the latest) and a version's details (architecture, parameters, hash,
 * how it was trained). Shared by the publish dialog and the panel; unit-tested.
 */
import type { IPreview, IRun, IVersion } from './api';
import { formatMetrics, formatNumber } from './names';

export type Row = { what: string; latest: string; next: string; changed: boolean };

const TRAINED: Record<string, string> = {
  trained: 'trained',
  untrained: 'NEVER TRAINED',
  unchanged: 'unchanged since loaded',
  unknown: 'unknown'
};

export function trainedText(state: string | null | undefined): string {
  return state ? (TRAINED[state] ?? state) : '–';
}

export function paramsText(n: number | null | undefined): string {
  return typeof n === 'number' ? n.toLocaleString('en-US') : '–';
}

/** One line on how a version was trained: `fit · 600 steps · 92.0 s · restart 3`. */
export function runText(run: IRun | undefined | null): string {
  if (!run) {
    return '';
  }
  const bits: string[] = [];
  if (run.source) {
    bits.push(String(run.source));
  }
  if (typeof run.stage === 'number') {
    bits.push(`stage ${run.stage}`);
  }
  if (typeof run.steps === 'number') {
    bits.push(`${run.steps} steps`);
  }
  if (typeof run.seconds === 'number') {
    bits.push(`${run.seconds.toFixed(1)} s`);
  }
  if (typeof run.restart === 'number') {
    bits.push(`restart ${run.restart}`);
  }
  return bits.join(' · ');
}

/** The rows of the publish preview: architecture, parameters, metrics, trained, lineage. */
export function previewRows(p: IPreview): Row[] {
  const l = p.latest;
  const metricNames = Array.from(new Set([...Object.keys(l?.metrics ?? {}), ...Object.keys(p.new.metrics ?? {})]));
  const rows: Row[] = [
    { what: 'architecture', latest: l?.architecture ?? '–', next: p.new.architecture, changed: !!l && l.architecture !== p.new.architecture },
    {
      what: 'parameters',
      latest: paramsText(l?.parameters),
      next: paramsText(p.new.parameters),
      changed: !!l && l.parameters !== p.new.parameters
    },
    { what: 'trained', latest: trainedText(l?.trained), next: trainedText(p.new.trained), changed: p.new.trained === 'untrained' }
  ];
  for (const m of metricNames) {
    const a = l?.metrics?.[m];
    const b = p.new.metrics?.[m];
    rows.push({
      what: m,
      latest: a === undefined ? '–' : formatNumber(a),
      next: b === undefined ? '–' : formatNumber(b),
      changed: a !== b
    });
  }
  rows.push({
    what: 'lineage',
    latest: l?.ref ?? '(new entry)',
    next: p.parent ? `from ${p.name}@${p.parent}` : l ? 'new lineage (not derived from it)' : 'first version',
    changed: !!l && !p.parent
  });
  if (p.new.task || l?.task) {
    rows.push({ what: 'task', latest: l?.task ?? '–', next: p.new.task ?? '–', changed: (l?.task ?? null) !== (p.new.task ?? null) });
  }
  return rows;
}

/** The details of one version, as label/value pairs (empty values left out). */
export function versionDetails(v: IVersion): [string, string][] {
  const rows: [string, string][] = [
    ['architecture', v.architecture_text],
    ['parameters', paramsText(v.parameters)],
    ['metrics', formatMetrics(v.metrics, 10)],
    ['task', v.task ?? ''],
    ['data set', v.dataset ?? ''],
    ['trained', v.run?.trained ? trainedText(v.run.trained) : ''],
    ['run', runText(v.run)],
    ['parent', v.parent ? `${v.name}@${v.parent}` : 'none'],
    ['created', v.created],
    ['sha256', v.weights_sha256 ? v.weights_sha256.slice(0, 16) + '…' : ''],
    ['description', v.description],
    ['tags', v.tags.join(', ')],
    ['deprecated', v.deprecated ?? '']
  ];
  return rows.filter(([, value]) => value !== '');
}
