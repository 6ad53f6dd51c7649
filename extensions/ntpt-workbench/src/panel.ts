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
import { AskName, askName, publishCard } from './publish';

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
    private readonly ask: AskName = askName
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
    this.setStatus('busy', `Publishing ${card.name}…`);
    const outcome = await publishCard(card, this.model, this.ask);
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
      items.push(h('li', { class: 'jp-ntpt-empty', text: 'The library is empty: publish a function.' }));
    } else if (entries.length === 0) {
      items.push(h('li', { class: 'jp-ntpt-empty', text: 'No entry matches the filter.' }));
    }
    this._list.replaceChildren(...items);
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
        const code = loadCode(entry.name, entry.latest, this.model.loadLocation, entry.variable);
        void startEntryDrag({ name: entry.name, version: entry.latest, code }, x, y, this);
      });
    });
    li.addEventListener('dblclick', () => void this.toggleHistory(entry, li));
    const more = h('button', { class: 'jp-ntpt-more', text: 'history', title: 'Show the versions' });
    more.addEventListener('click', () => void this.toggleHistory(entry, li));
    li.querySelector('.jp-ntpt-entryHead')!.appendChild(more);
    return li;
  }

  private async toggleHistory(entry: IEntry, li: HTMLElement): Promise<void> {
    const open = li.querySelector('.jp-ntpt-history');
    if (open) {
      open.remove();
      return;
    }
    const box = h('ol', { class: 'jp-ntpt-history', text: 'Loading…' });
    li.appendChild(box);
    try {
      const detail = await this.model.detail(entry.name);
      box.replaceChildren(...detail.versions.slice().reverse().map(v => this.renderVersion(v)));
    } catch (error) {
      box.textContent = `Cannot read the history: ${(error as Error).message}`;
    }
  }

  private renderVersion(v: IVersion): HTMLElement {
    const remove = h('button', { class: 'jp-ntpt-remove', text: 'remove', title: `Remove ${v.ref}` });
    remove.addEventListener('click', async () => {
      const answer = await showDialog({
        title: `Remove ${v.ref}?`,
        body: 'The version disappears from the library; its number is never reused.',
        buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Remove' })]
      });
      if (answer.button.accept) {
        try {
          await this.model.remove(v.name, v.version);
          this.setStatus('ok', `Removed ${v.ref}`);
        } catch (error) {
          const e = error as ApiError;
          this.setStatus('error', e.message, e.hint);
        }
      }
    });
    const bits = [
      `v${v.version}`,
      formatMetrics(v.metrics),
      v.task ? `task ${v.task}` : '',
      v.parent ? `from v${v.parent}` : '',
      v.created
    ].filter(Boolean);
    return h('li', { class: 'jp-ntpt-historyItem' }, [h('span', { text: bits.join(' · ') }), remove]);
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
  private _statusSource: 'model' | 'action' = 'model';
}
