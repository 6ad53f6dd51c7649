/**
 * MIME renderers for the workbench's outputs (`application/vnd.ntpt.<kind>+json`):
 *
 * - program / sketch: the program graph. The payload's `svg` when the kernel had graphviz, else
 *   its `dot` rendered in the browser by `@hpcc-js/wasm-graphviz` (loaded on first use).
 * - trace: the soft trace as a heatmap table, one row per site, one cell per value.
 * - neural: a card for a neural function, draggable onto the library panel to publish it.
 *
 * Untrusted outputs are shown inertly: SVG is inserted into the page only for trusted outputs,
 * otherwise it is shown through `<img src="data:image/svg+xml,...">` (no script, no links).
 * Every text is set with `textContent`.
 */
import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';

import { armDrag, INeuralCard, requestStage, startCardDrag } from './dnd';
import { h } from './dom';
import { formatNumber } from './names';

export const PROGRAM_MIME = 'application/vnd.ntpt.program+json';
export const SKETCH_MIME = 'application/vnd.ntpt.sketch+json';
export const TRACE_MIME = 'application/vnd.ntpt.trace+json';
export const NEURAL_MIME = 'application/vnd.ntpt.neural+json';

/** Rank among renderers: before the HTML / SVG fallbacks of the same bundle. */
export const RANK = 20;

// ------------------------------------------------------------------ graphs

interface IGraphPayload {
  dot?: string | null;
  svg?: string | null;
  name?: string;
  title?: string;
  source?: string;
  program_space?: number;
  holes?: Record<string, unknown>;
}

let graphviz: Promise<{ dot(source: string): string }> | null = null;

/** DOT -> SVG in the browser (the wasm module loads once, on first use). */
export async function dotToSvg(dot: string): Promise<string> {
  if (!graphviz) {
    graphviz = import('@hpcc-js/wasm-graphviz').then(m => m.Graphviz.load());
    graphviz.catch(() => (graphviz = null));
  }
  return (await graphviz).dot(dot);
}

/** Put `svg` into `host`: inline when trusted, as an inert image otherwise. */
export function showSvg(host: HTMLElement, svg: string, trusted: boolean, alt: string): void {
  if (trusted) {
    host.innerHTML = svg;
    host.dataset.inline = 'true';
  } else {
    const img = h('img', { attrs: { alt } });
    img.src = 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(svg);
    host.replaceChildren(img);
    host.dataset.inline = 'false';
  }
}

export class GraphRenderer extends Widget implements IRenderMime.IRenderer {
  constructor(private readonly options: IRenderMime.IRendererOptions) {
    super();
    this.addClass('jp-ntpt-graph');
  }

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const data = (model.data[this.options.mimeType] ?? {}) as IGraphPayload;
    const kind = this.options.mimeType === SKETCH_MIME ? 'sketch' : 'program';
    const host = h('div', { class: 'jp-ntpt-graphBody' });
    const head: HTMLElement[] = [];
    if (data.name || data.title) {
      const extra =
        kind === 'sketch' && typeof data.program_space === 'number'
          ? ` · ${Object.keys(data.holes ?? {}).length} holes, ${data.program_space.toLocaleString('en-US')} discrete programs`
          : '';
      head.push(h('div', { class: 'jp-ntpt-graphTitle', text: `${kind} ${data.title ?? data.name}${extra}` }));
    }
    if (kind === 'program' && typeof data.source === 'string' && data.source) {
      head.push(h('pre', { class: 'jp-ntpt-source', text: data.source }));
    }
    this.node.replaceChildren(...head, host);
    const alt = `${kind} graph${data.name ? ` of ${data.name}` : ''}`;
    // The kernel's SVG: in the payload, or beside it in the same bundle (image/svg+xml).
    const sibling = model.data['image/svg+xml'];
    const svg = typeof data.svg === 'string' && data.svg ? data.svg : typeof sibling === 'string' ? sibling : '';
    if (svg) {
      showSvg(host, svg, model.trusted, alt);
      this.node.dataset.source = 'kernel';
      return;
    }
    if (typeof data.dot !== 'string' || !data.dot) {
      host.textContent = head.length ? '' : '(empty graph)';
      return;
    }
    host.textContent = 'Rendering graph…';
    try {
      const rendered = await dotToSvg(data.dot);
      showSvg(host, rendered, model.trusted, alt);
      this.node.dataset.source = 'browser';
    } catch (error) {
      host.replaceChildren(
        h('div', { class: 'jp-ntpt-error', text: `Could not render the graph: ${String(error)}` }),
        h('pre', { class: 'jp-ntpt-dot', text: data.dot })
      );
    }
  }
}

// ------------------------------------------------------------------ traces

export interface ISite {
  name: string;
  kind?: string;
  domain?: string;
  size?: number;
  labels?: string[] | null;
  probs: number[];
  reads?: unknown;
  args?: unknown;
}

const MAX_COLUMNS = 32;

/** Background and text colours of a cell holding probability `p`. */
export function heat(p: number): { background: string; color: string } {
  const q = Math.max(0, Math.min(1, Number.isFinite(p) ? p : 0));
  return {
    background: `rgba(25, 118, 210, ${(0.05 + 0.95 * q).toFixed(3)})`,
    color: q > 0.55 ? '#fff' : 'var(--jp-content-font-color1)'
  };
}

export function traceTable(sites: ISite[]): HTMLTableElement {
  const width = Math.min(MAX_COLUMNS, Math.max(1, ...sites.map(s => s.probs?.length ?? 0)));
  const head = h('tr', {}, [
    h('th', { text: 'site' }),
    h('th', { text: 'domain' }),
    ...Array.from({ length: width }, (_, i) => h('th', { class: 'jp-ntpt-value', text: String(i) }))
  ]);
  const rows = sites.map(site => {
    const probs = site.probs ?? [];
    const best = probs.reduce((b, p, i) => (p > probs[b] ? i : b), 0);
    const cells = Array.from({ length: width }, (_, i) => {
      if (i >= probs.length) {
        return h('td', { class: 'jp-ntpt-blank' });
      }
      const label = site.labels?.[i] ?? String(i);
      const p = probs[i];
      const td = h('td', {
        class: 'jp-ntpt-cell' + (i === best ? ' jp-ntpt-best' : ''),
        text: p >= 0.005 ? p.toFixed(2).replace(/^0/, '') : '',
        title: `${site.name} = ${label}: ${formatNumber(p)}`
      });
      const { background, color } = heat(p);
      td.style.background = background;
      td.style.color = color;
      return td;
    });
    const more = probs.length > width ? ` (+${probs.length - width} values)` : '';
    const extra = [site.kind, site.reads ? `reads ${JSON.stringify(site.reads)}` : '', site.args ? `args ${JSON.stringify(site.args)}` : '']
      .filter(Boolean)
      .join(' · ');
    return h('tr', {}, [
      h('th', { class: 'jp-ntpt-site', text: site.name, title: extra }),
      h('td', { class: 'jp-ntpt-domain', text: (site.domain ?? '') + more }),
      ...cells
    ]);
  });
  return h('table', { class: 'jp-ntpt-trace' }, [h('thead', {}, [head]), h('tbody', {}, rows)]);
}

/** One variable of a trace view: values x steps (`matrix[v][s]`, null where absent). */
export interface IVariable {
  pattern: string;
  domain?: string;
  values?: string[];
  steps?: string[];
  sites?: (string | null)[];
  matrix: (number | null)[][];
}

/** A heatmap of one variable over the steps: one row per value, one column per step. */
export function variableTable(variable: IVariable, steps: string[]): HTMLTableElement {
  const matrix = variable.matrix ?? [];
  const columns = Math.min(MAX_COLUMNS, Math.max(1, ...matrix.map(r => r.length)));
  const head = h('tr', {}, [
    h('th', { class: 'jp-ntpt-site', text: variable.pattern, title: variable.domain ?? '' }),
    ...Array.from({ length: columns }, (_, c) =>
      h('th', { class: 'jp-ntpt-value', text: steps[c] ?? String(c), title: variable.sites?.[c] ?? '' })
    )
  ]);
  const best = Array.from({ length: columns }, (_, c) =>
    matrix.reduce((b, row, v) => ((row[c] ?? -1) > (matrix[b]?.[c] ?? -1) ? v : b), 0)
  );
  const rows = matrix.map((row, v) => {
    const label = variable.values?.[v] ?? String(v);
    return h('tr', {}, [
      h('th', { class: 'jp-ntpt-label', text: label }),
      ...Array.from({ length: columns }, (_, c) => {
        const p = row[c];
        if (p === null || p === undefined) {
          return h('td', { class: 'jp-ntpt-blank' });
        }
        const td = h('td', {
          class: 'jp-ntpt-cell' + (best[c] === v ? ' jp-ntpt-best' : ''),
          text: p >= 0.005 ? p.toFixed(2).replace(/^0/, '') : '',
          title: `${variable.sites?.[c] ?? variable.pattern} = ${label}: ${formatNumber(p)}`
        });
        const { background, color } = heat(p);
        td.style.background = background;
        td.style.color = color;
        return td;
      })
    ]);
  });
  return h('table', { class: 'jp-ntpt-trace' }, [h('thead', {}, [head]), h('tbody', {}, rows)]);
}

export class TraceRenderer extends Widget implements IRenderMime.IRenderer {
  constructor(private readonly options: IRenderMime.IRendererOptions) {
    super();
    this.addClass('jp-ntpt-traceView');
  }

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const data = (model.data[this.options.mimeType] ?? {}) as {
      sites?: ISite[];
      variables?: IVariable[];
      steps?: string[];
      outputs?: Record<string, { site?: string; values?: string[]; probs: number[] }>;
      example?: number;
      restart?: number;
      examples?: number;
      restarts?: number;
    };
    const parts: HTMLElement[] = [];
    if (Array.isArray(data.variables)) {
      if (typeof data.example === 'number') {
        parts.push(
          h('div', {
            class: 'jp-ntpt-graphTitle',
            text: `trace: example ${data.example} of ${data.examples ?? '?'}, restart ${data.restart ?? 0} of ${data.restarts ?? '?'}`
          })
        );
      }
      for (const variable of data.variables) {
        parts.push(variableTable(variable, data.steps ?? []));
      }
      const outputs = Object.entries(data.outputs ?? {}).map(([name, o]) => ({
        name,
        kind: 'output',
        labels: o.values,
        probs: o.probs ?? []
      }));
      if (outputs.length) {
        parts.push(traceTable(outputs));
      }
    }
    if (Array.isArray(data.sites) && data.sites.length) {
      parts.push(traceTable(data.sites));
    }
    this.node.replaceChildren(...(parts.length ? parts : [h('div', { text: '(no sites)' })]));
  }
}

// ------------------------------------------------------------------ neural-function cards

/** A neural-function card: shows a payload, and starts a publish drag when it is stageable. */
export class CardWidget extends Widget {
  constructor() {
    super();
    this.addClass('jp-ntpt-card');
  }

  showCard(
    card: INeuralCard & {
      source?: string;
      version?: number;
      latest?: number;
      trained?: string | null;
      metrics?: Record<string, number>;
    }
  ): void {
    const signature = signatureText(card.signature);
    const fromLibrary = card.source === 'library';
    const origin = fromLibrary
      ? `library entry ${card.name}@${card.version ?? card.latest ?? '?'}`
      : card.origin?.name
        ? `from ${card.origin.name}@${card.origin.version ?? '?'}`
        : 'not from the library';
    const params = typeof card.parameters === 'number' ? `${card.parameters.toLocaleString('en-US')} parameters` : '';
    const stageable = Boolean(card.staging?.id || card.stage?.token);
    const metrics = card.metrics ? formatMetricsShort(card.metrics) : '';
    const parts: (HTMLElement | null)[] = [
      h('div', { class: 'jp-ntpt-cardHead' }, [
        h('span', { class: 'jp-ntpt-cardKind', text: fromLibrary ? 'library entry' : 'neural function' }),
        h('span', { class: 'jp-ntpt-name', text: card.name ?? '?' }),
        card.trained ? h('span', { class: 'jp-ntpt-tag', text: card.trained }) : null
      ]),
      h('div', { class: 'jp-ntpt-signature', text: signature }),
      h('div', { class: 'jp-ntpt-provenance', text: [params, origin].filter(Boolean).join(' · ') }),
      metrics ? h('div', { class: 'jp-ntpt-metrics', text: metrics }) : null,
      fromLibrary
        ? null
        : h('div', {
            class: 'jp-ntpt-cardHint',
            text: stageable
              ? '⇲ drag this card onto the Neural library panel to publish it'
              : `publish it with Library().publish(${card.name ?? 'fn'}) (${card.staging_error ?? 'this card was not staged'})`
          })
    ];
    this.node.replaceChildren(...parts.filter((p): p is HTMLElement => p !== null));
    this.node.dataset.staging = card.staging?.id ?? '';
    this.node.dataset.name = card.name ?? '';
    this.node.classList.toggle('jp-ntpt-draggable', stageable);
    if (stageable && !this._armed) {
      this._armed = true;
      this.node.addEventListener('pointerdown', (event: PointerEvent) => {
        event.stopPropagation(); // not a notebook cell selection drag
        // the kernel stages the function's weights now, as they are at the start of the drag
        armDrag(event, (x, y) => {
          const pending = requestStage(this.node, this._card!);
          void startCardDrag({ ...this._card!, pending }, x, y, this);
        });
      });
    }
    this._card = { ...card, signature };
  }

  private _armed = false;
  private _card: INeuralCard | null = null;
}

function formatMetricsShort(metrics: Record<string, number>): string {
  return Object.entries(metrics)
    .slice(0, 3)
    .map(([k, v]) => `${k} ${formatNumber(v)}`)
    .join(' · ');
}

export class NeuralCardRenderer extends CardWidget implements IRenderMime.IRenderer {
  constructor(private readonly options: IRenderMime.IRendererOptions) {
    super();
  }

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    this.showCard((model.data[this.options.mimeType] ?? {}) as any);
  }
}

// ------------------------------------------------------------------ fit results

export const FIT_MIME = 'application/vnd.ntpt.fit+json';

interface IFitPayload {
  sketch?: string;
  steps?: number;
  seconds?: number;
  best?: number;
  interrupted?: boolean;
  restarts?: { index: number; losses?: number[]; best_accuracy?: number; best_step?: number; correct?: boolean | null; program?: string }[];
  png?: string | null;
  neural?: (INeuralCard & { trained?: string; metrics?: Record<string, number> })[];
}

/** A fit: its restarts, the best program, the curves, and its trained neural functions as cards. */
export class FitRenderer extends Widget implements IRenderMime.IRenderer {
  constructor(private readonly options: IRenderMime.IRendererOptions) {
    super();
    this.addClass('jp-ntpt-fit');
  }

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const data = (model.data[this.options.mimeType] ?? {}) as IFitPayload;
    const restarts = data.restarts ?? [];
    const head = h('tr', {}, ['restart', 'final loss', 'best discrete acc', 'at step', 'correct'].map(t => h('th', { text: t })));
    const rows = restarts.map(r =>
      h('tr', { class: r.index === data.best ? 'jp-ntpt-best' : '' }, [
        h('td', { text: String(r.index) }),
        h('td', { text: r.losses?.length ? formatNumber(r.losses[r.losses.length - 1]) : '–' }),
        h('td', { text: typeof r.best_accuracy === 'number' ? r.best_accuracy.toFixed(3) : '–' }),
        h('td', { text: String(r.best_step ?? '–') }),
        h('td', { text: r.correct === true ? 'yes' : r.correct === false ? 'no' : '?' })
      ])
    );
    const best = restarts.find(r => r.index === data.best);
    const parts: HTMLElement[] = [
      h('div', {
        class: 'jp-ntpt-graphTitle',
        text: `fit ${data.sketch ?? ''}: ${data.steps ?? '?'} steps, ${(data.seconds ?? 0).toFixed(1)} s${data.interrupted ? ' (interrupted: best so far)' : ''}`
      }),
      h('table', { class: 'jp-ntpt-fitTable' }, [h('thead', {}, [head]), h('tbody', {}, rows)])
    ];
    if (best?.program) {
      parts.push(h('div', { text: `best program (restart ${best.index}):` }), h('pre', { class: 'jp-ntpt-source', text: best.program }));
    }
    if (data.png && data.png.startsWith('data:image/png')) {
      const img = h('img', { class: 'jp-ntpt-fitCurves', attrs: { alt: 'training curves' } });
      img.src = data.png;
      parts.push(img);
    }
    const cards = (data.neural ?? []).map(card => {
      const w = new CardWidget();
      w.showCard(card);
      return w.node;
    });
    if (cards.length) {
      parts.push(
        h('div', { class: 'jp-ntpt-fitNets' }, [
          h('div', { class: 'jp-ntpt-graphTitle', text: `trained neural functions (restart ${data.best ?? '?'})` }),
          ...cards
        ])
      );
    }
    this.node.replaceChildren(...parts);
  }
}

/** A signature as text: already text, or a manifest's `{input: {name}, output: {name, size}}`. */
export function signatureText(signature: unknown): string {
  if (typeof signature === 'string') {
    return signature;
  }
  const sig = signature as { input?: { name?: string }; output?: { name?: string; size?: number } } | null;
  if (sig?.input?.name && sig.output?.name) {
    return `${sig.input.name} -> ${sig.output.name}[${sig.output.size ?? '?'}]`;
  }
  return '';
}

function factory(
  mimeTypes: string[],
  make: (options: IRenderMime.IRendererOptions) => IRenderMime.IRenderer
): IRenderMime.IRendererFactory {
  return { safe: true, mimeTypes, defaultRank: RANK, createRenderer: make };
}

/** The renderer factories, to add to the application's rendermime registry. */
export const rendererFactories: IRenderMime.IRendererFactory[] = [
  factory([PROGRAM_MIME, SKETCH_MIME], options => new GraphRenderer(options)),
  factory([TRACE_MIME], options => new TraceRenderer(options)),
  factory([NEURAL_MIME], options => new NeuralCardRenderer(options)),
  factory([FIT_MIME], options => new FitRenderer(options))
];
