/**
 * The "Neural library" side panel: one card per entry (name, signature, latest version, key
 * metrics, provenance, tags and the tasks using it), a filter box, a status line, per-entry
 * history with removal, entries draggable into notebooks, and a drop zone for neural-function
 * cards dragged out of notebooks.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { LabIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import type { ApiError, IEntry, IVersion } from './api';
import { acceptCards, armDrag, INeuralCard, startEntryDrag } from './dnd';
import { h } from './dom';
import type { LibraryModel } from './model';
import { formatMetrics, loadCode } from './names';
import { paramsText, runText, trainedText, versionDetails } from './provenance';
import { AskName, askName, Confirm, confirmPublish, publishCard } from './publish';

const ICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">' +
  '<g class="jp-icon3" fill="#616161">' +
  '<circle cx="5" cy="6" r="2.2"/><circle cx="5" cy="18" r="2.2"/><circle cx="12" cy="12" r="2.2"/>' +
  '<circle cx="19" cy="6" r="2.2"/><circle cx="19" cy="18" r="2.2"/>' +
  '<path d="M6.8 7.1l3.5 3.6M6.8 16.9l3.5-3.6M13.7 10.8l3.6-3.6M13.7 13.2l3.6 3.6" ' +
  'stroke="#616161" stroke-width="1.4" fill="none"/></g></svg>';

export const libraryIcon = new LabIcon({ name: 'ntpt-workbench:library', svgstr: ICON_SVG });

/** The last `max` characters of a path, cut at a separator: `…/runs/lib`. */
export function shortPath(path: string, max = 36): string {
  if (path.length <= max) {
    return path;
  }
  const tail = path.slice(path.length - max);
  const cut = tail.indexOf('/');
  return '…' + (cut >= 0 ? tail.slice(cut) : tail);
}

export class LibraryPanel extends Widget {
  constructor(
    readonly model: LibraryModel,
    private readonly ask: AskName = askName,
    private readonly confirm: Confirm = confirmPublish
  ) {
    super();
    this.id = 'ntpt-library';
    this.addClass('jp-ntpt-LibraryPanel');
    this.title.icon = libraryIcon;
    this.title.caption = 'Neural library';

    this._filter = h('input', {
      class: 'jp-ntpt-filter jp-mod-styled',
      attrs: { type: 'search', placeholder: 'Filter: name, signature, task, tag…', 'aria-label': 'Filter entries' }
    });
    this._filter.addEventListener('input', () => this.render());
    const refresh = h('button', { class: 'jp-ntpt-refresh jp-mod-styled', text: '⟳', title: 'Refresh now' });
    refresh.addEventListener('click', () => void this.model.refreshNow());
    this._location = h('div', { class: 'jp-ntpt-location' });
    this._status = h('div', { class: 'jp-ntpt-status', attrs: { role: 'status' } });
    this._list = h('ul', { class: 'jp-ntpt-entries' });
    this._drop = h('div', {
      class: 'jp-ntpt-dropZone',
      text: 'Drop a neural function’s output card here to publish it'
    });
    this.node.append(
      h('div', { class: 'jp-ntpt-header' }, [h('h2', { text: 'Neural library' }), refresh]),
      this._location,
      this._filter,
      this._status,
      this._list,
      this._drop
    );
    acceptCards(this.node, card => void this.publish(card));
    model.changed.connect(this.render, this);
    model.published.connect((_, result) => {
      this._highlight = result.entry.name;
      this.render();
    });
    this.render();
  }

  /** Publish a dropped card and report the outcome in the status line. */
  async publish(card: INeuralCard): Promise<void> {
    if (!this.model.connected) {
      this.setStatus('error', `Cannot publish ${card.name}: the library server is not reachable`,
        'publishing is disabled until the Jupyter server answers again');
      return;
    }
    this.setStatus('busy', `Publishing ${card.name}…`);
    const outcome = await publishCard(card, this.model, this.ask, this.confirm);
    if (outcome.kind === 'published') {
      const e = outcome.result.entry;
      const parent = e.parent ? ` (from version ${e.parent})` : '';
      this.setStatus('ok', `Published ${e.ref}${parent}`);
    } else if (outcome.kind === 'cancelled') {
      this.setStatus('info', 'Publishing cancelled');
    } else {
      this.setStatus('error', outcome.message, outcome.hint);
    }
  }

  setStatus(
    kind: 'ok' | 'info' | 'busy' | 'error',
    message: string,
    hint: string | null = null,
    source: 'model' | 'action' = 'action'
  ): void {
    this._statusSource = source;
    this._status.className = `jp-ntpt-status jp-ntpt-status-${kind}`;
    this._status.replaceChildren(h('span', { class: 'jp-ntpt-statusMessage', text: message }));
    if (hint) {
      this._status.appendChild(h('div', { class: 'jp-ntpt-hint', text: `Hint: ${hint}` }));
    }
    if (!message && !hint) {
      this._status.replaceChildren();
    }
    this._status.dataset.kind = kind;
  }

  /** Rebuild the list from the model (cheap: libraries hold tens of entries). */
  render(): void {
    const model = this.model;
    this._location.textContent = shortPath(model.location);
    this._location.title = model.location ? `Library: ${model.location}` : '';
    if (model.error) {
      this.setStatus('error', `Cannot read the library: ${model.error.message}`, model.error.hint, 'model');
    } else if (this._statusSource === 'model') {
      this.setStatus('info', '', null, 'model');
    }
    const entries = model.filtered(this._filter.value);
    const items = entries.map(entry => this.renderEntry(entry));
    if (!model.ready) {
      items.push(h('li', { class: 'jp-ntpt-empty', text: 'Loading…' }));
    } else if (model.entries.length === 0) {
      items.push(
        h('li', {
          class: 'jp-ntpt-empty',
          text:
            'The library is empty. To publish a function: display it in a notebook (or a fit result, ' +
            'which shows its trained functions as cards) and drag its card onto this panel; or run ' +
            'Library().publish(fn) in the notebook.'
        })
      );
    } else if (entries.length === 0) {
      items.push(h('li', { class: 'jp-ntpt-empty', text: 'No entry matches the filter.' }));
    }
    this._list.replaceChildren(...items);
    for (const name of Array.from(this._open)) {
      const li = this._list.querySelector(`.jp-ntpt-entry[data-name="${CSS.escape(name)}"]`) as HTMLElement | null;
      const entry = model.entry(name);
      if (li && entry) {
        void this.toggleHistory(entry, li, true);
      } else {
        this._open.delete(name);
      }
    }
  }

  private renderEntry(entry: IEntry): HTMLElement {
    const metrics = formatMetrics(entry.metrics);
    const provenance: string[] = [];
    if (entry.task) {
      provenance.push(`task ${entry.task}`);
    }
    if (entry.parent) {
      provenance.push(`from v${entry.parent}`);
    }
    if (entry.created) {
      provenance.push(entry.created.slice(0, 10));
    }
    const usedBy = entry.tasks.filter(t => t !== entry.task);
    const li = h(
      'li',
      {
        class: 'jp-ntpt-entry' + (this._highlight === entry.name ? ' jp-ntpt-new' : ''),
        title: `Drag into a notebook to load ${entry.name}@${entry.latest}`,
        attrs: { 'data-name': entry.name, 'data-version': String(entry.latest) }
      },
      [
        h('div', { class: 'jp-ntpt-entryHead' }, [
          h('span', { class: 'jp-ntpt-name', text: entry.name }),
          h('span', {
            class: 'jp-ntpt-version',
            text: `v${entry.latest}`,
            title: `${entry.versions} version${entry.versions === 1 ? '' : 's'}`
          }),
          entry.versions > 1 ? h('span', { class: 'jp-ntpt-count', text: `${entry.versions} versions` }) : null
        ]),
        h('div', { class: 'jp-ntpt-signature', text: entry.signature }),
        metrics ? h('div', { class: 'jp-ntpt-metrics', text: metrics }) : null,
        h('div', {
          class: 'jp-ntpt-details',
          text: [
            entry.architecture ?? '',
            entry.parameters != null ? `${paramsText(entry.parameters)} params` : '',
            entry.run?.trained ? trainedText(entry.run.trained) : '',
            runText(entry.run),
            entry.weights_sha256 ? `sha256 ${entry.weights_sha256.slice(0, 10)}…` : ''
          ]
            .filter(Boolean)
            .join(' · ')
        }),
        entry.pinned
          ? h('div', { class: 'jp-ntpt-pinned', text: `📌 load("${entry.name}") returns v${entry.pinned} (pinned)` })
          : entry.current !== undefined && entry.current !== entry.latest
            ? h('div', { class: 'jp-ntpt-pinned', text: `load("${entry.name}") returns v${entry.current} (newer deprecated)` })
            : null,
        provenance.length ? h('div', { class: 'jp-ntpt-provenance', text: provenance.join(' · ') }) : null,
        entry.tags.length || usedBy.length
          ? h('div', { class: 'jp-ntpt-tags' }, [
              ...entry.tags.map(t => h('span', { class: 'jp-ntpt-tag', text: t })),
              ...usedBy.map(t => h('span', { class: 'jp-ntpt-tag jp-ntpt-task', text: t, title: 'used by task' }))
            ])
          : null
      ]
    );
    li.addEventListener('pointerdown', (event: PointerEvent) => {
      if ((event.target as HTMLElement).closest('button')) {
        return;
      }
      event.preventDefault(); // no text selection while dragging
      armDrag(event, (x, y) => {
        const version = entry.current ?? entry.latest;
        const code = loadCode(entry.name, version, this.model.loadLocation, entry.variable);
        void startEntryDrag({ name: entry.name, version, code }, x, y, this);
      });
    });
    li.addEventListener('dblclick', () => void this.toggleHistory(entry, li));
    const more = h('button', { class: 'jp-ntpt-more', text: 'history', title: 'Show the versions' });
    more.addEventListener('click', () => void this.toggleHistory(entry, li));
    li.querySelector('.jp-ntpt-entryHead')!.appendChild(more);
    return li;
  }

  private async toggleHistory(entry: IEntry, li: HTMLElement, reopen = false): Promise<void> {
    const open = li.querySelector('.jp-ntpt-history');
    if (open) {
      open.remove();
      if (!reopen) {
        this._open.delete(entry.name);
        return;
      }
    }
    this._open.add(entry.name);
    const box = h('ol', { class: 'jp-ntpt-history', text: 'Loading…' });
    li.appendChild(box);
    try {
      const detail = await this.model.detail(entry.name);
      box.replaceChildren(...detail.versions.slice().reverse().map(v => this.renderVersion(v, detail.variable)));
    } catch (error) {
      box.textContent = `Cannot read the history: ${(error as Error).message}`;
    }
  }

  private renderVersion(v: IVersion, variable: string): HTMLElement {
    const button = (cls: string, text: string, title: string, run: () => Promise<void>) => {
      const b = h('button', { class: `jp-ntpt-versionButton ${cls}`, text, title });
      b.addEventListener('click', () => void run());
      return b;
    };
    const act = async (what: () => Promise<void>, done: string) => {
      try {
        await what();
        this.setStatus('ok', done);
      } catch (error) {
        const e = error as ApiError;
        this.setStatus('error', e.message, e.hint);
      }
    };
    const remove = button('jp-ntpt-remove', 'remove', `Remove ${v.ref}`, async () => {
      const answer = await showDialog({
        title: `Remove ${v.ref}?`,
        body: 'The version disappears from the library; its number is never reused.',
        buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Remove' })]
      });
      if (answer.button.accept) {
        await act(() => this.model.remove(v.name, v.version), `Removed ${v.ref}`);
      }
    });
    const pin = v.pinned
      ? button('jp-ntpt-unpin', 'unpin', `load("${v.name}") returns the latest again`, () =>
          act(() => this.model.pin(v.name, null), `Unpinned ${v.name}`))
      : button('jp-ntpt-pin', 'pin', `Make load("${v.name}") return ${v.ref}`, () =>
          act(() => this.model.pin(v.name, v.version), `Pinned ${v.ref}: Library().load("${v.name}") returns it`));
    const deprecate = v.deprecated
      ? button('jp-ntpt-undeprecate', 'undeprecate', `Stop skipping ${v.ref}`, () =>
          act(() => this.model.deprecate(v.name, v.version, '', true), `${v.ref} is no longer deprecated`))
      : button('jp-ntpt-deprecate', 'deprecate', `load("${v.name}") skips ${v.ref} unless pinned`, () =>
          act(() => this.model.deprecate(v.name, v.version, 'deprecated from the panel'), `Deprecated ${v.ref}`));
    const bits = [
      `v${v.version}`,
      formatMetrics(v.metrics),
      v.task ? `task ${v.task}` : '',
      v.parent ? `from v${v.parent}` : '',
      v.run?.trained === 'untrained' ? 'NEVER TRAINED' : '',
      v.created
    ].filter(Boolean);
    const details = h(
      'dl',
      { class: 'jp-ntpt-versionDetails' },
      versionDetails(v).flatMap(([k, value]) => [h('dt', { text: k }), h('dd', { text: value })])
    );
    const li = h(
      'li',
      {
        class: 'jp-ntpt-historyItem' + (v.pinned ? ' jp-ntpt-isPinned' : '') + (v.deprecated ? ' jp-ntpt-isDeprecated' : ''),
        title: `Drag into a notebook to load ${v.ref}`,
        attrs: { 'data-version': String(v.version) }
      },
      [
        h('span', { class: 'jp-ntpt-versionLine', text: bits.join(' · ') + (v.pinned ? ' · 📌 pinned' : '') + (v.deprecated ? ' · deprecated' : '') }),
        h('span', { class: 'jp-ntpt-versionButtons' }, [pin, deprecate, remove]),
        details
      ]
    );
    li.addEventListener('pointerdown', (event: PointerEvent) => {
      if ((event.target as HTMLElement).closest('button')) {
        return;
      }
      event.preventDefault();
      event.stopPropagation(); // this version, not the entry's current one
      armDrag(event, (x, y) => {
        const code = loadCode(v.name, v.version, this.model.loadLocation, variable);
        void startEntryDrag({ name: v.name, version: v.version, code }, x, y, this);
      });
    });
    return li;
  }

  protected onAfterShow(): void {
    void this.model.refreshNow();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.model.changed.disconnect(this.render, this);
    super.dispose();
  }

  private _filter: HTMLInputElement;
  private _location: HTMLElement;
  private _status: HTMLElement;
  private _list: HTMLElement;
  private _drop: HTMLElement;
  private _highlight: string | null = null;
  private _open = new Set<string>();
  private _statusSource: 'model' | 'action' = 'model';
}
