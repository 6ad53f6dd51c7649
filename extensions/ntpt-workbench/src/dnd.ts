/**
 * Drag and drop, both ways, with Lumino `Drag` (pointer events, not HTML5 DnD).
 *
 * Panel -> notebook: an entry carries `ENTRY_MIME` (JSON) and `text/plain` (the load code).
 * Dropped on a cell's editor, the code is inserted as whole lines at the drop point; dropped
 * anywhere else on the notebook, a new code cell holding it is created between the cells there.
 *
 * Notebook -> panel: a rendered neural-function card carries `CARD_MIME` (its staging id,
 * never a kernel object); the panel is a drop target for it and publishes the staged function.
 */
import type { Cell } from '@jupyterlab/cells';
import type { Notebook, NotebookPanel } from '@jupyterlab/notebook';
import { MimeData } from '@lumino/coreutils';
import { Drag } from '@lumino/dragdrop';

import { h } from './dom';
import { insertLines } from './names';
import type { IStageReply, IStaging } from './stage';
export type { IStageReply, IStaging } from './stage';

export const ENTRY_MIME = 'application/vnd.ntpt.library-entry+json';
export const CARD_MIME = 'application/vnd.ntpt.neural-card+json';

/** Pixels the pointer must move (button held) before a drag starts. */
export const DRAG_THRESHOLD = 5;

/** What an entry drag carries under `ENTRY_MIME`. */
export interface IEntryDrag {
  name: string;
  version: number;
  code: string;
}

/** The neural-function card payload (`application/vnd.ntpt.neural+json`). */
export interface INeuralCard {
  name: string;
  signature: string;
  parameters?: number;
  origin?: { library?: string; name?: string; version?: number } | null;
  staging: IStaging | null;
  staging_error?: string | null;
  /** Kernel-side token: the weights are staged when a drag starts, not when the card was shown. */
  stage?: { token: string; module?: string; call?: string } | null;
  /** Set by the card at drag start: the kernel's answer to the staging request. */
  pending?: Promise<IStageReply> | null;
}


/** Asks the kernel that displayed `node` to stage the card's function now (set by the plugin). */
export type Stager = (node: HTMLElement, token: string) => Promise<IStageReply>;

let stager: Stager | null = null;

export function setStager(fn: Stager | null): void {
  stager = fn;
}

/** Stage a card's function as it is now: its kernel stages the current weights. */
export function requestStage(node: HTMLElement, card: INeuralCard): Promise<IStageReply> | null {
  if (!card.stage?.token) {
    return null;
  }
  if (!stager) {
    return Promise.resolve({ staging: null, error: 'no notebook kernel is reachable from this card' });
  }
  return stager(node, card.stage.token).catch(e => ({ staging: null, error: String(e?.message ?? e) }));
}

/** Call `begin(x, y)` once the pointer, pressed at `down`, has moved `DRAG_THRESHOLD` pixels. */
export function armDrag(down: PointerEvent, begin: (x: number, y: number) => void): void {
  if (down.button !== 0) {
    return;
  }
  const x0 = down.clientX;
  const y0 = down.clientY;
  const move = (event: PointerEvent) => {
    if (Math.abs(event.clientX - x0) + Math.abs(event.clientY - y0) >= DRAG_THRESHOLD) {
      stop();
      begin(event.clientX, event.clientY);
    }
  };
  const stop = () => {
    document.removeEventListener('pointermove', move, true);
    document.removeEventListener('pointerup', stop, true);
  };
  document.addEventListener('pointermove', move, true);
  document.addEventListener('pointerup', stop, true);
}

function dragImage(label: string): HTMLElement {
  return h('div', { class: 'jp-ntpt-dragImage', text: label });
}

/** Start dragging a library entry (its load code) from the panel. */
export function startEntryDrag(data: IEntryDrag, x: number, y: number, source?: unknown): Promise<Drag.DropAction> {
  const mimeData = new MimeData();
  mimeData.setData(ENTRY_MIME, data);
  mimeData.setData('text/plain', data.code);
  const drag = new Drag({
    mimeData,
    dragImage: dragImage(`${data.name}@${data.version}`),
    proposedAction: 'copy',
    supportedActions: 'copy',
    source
  });
  return drag.start(x, y);
}

/** Start dragging a neural-function card from an output. */
export function startCardDrag(card: INeuralCard, x: number, y: number, source?: unknown): Promise<Drag.DropAction> {
  const mimeData = new MimeData();
  mimeData.setData(CARD_MIME, card);
  const drag = new Drag({
    mimeData,
    dragImage: dragImage(`publish ${card.name}: ${card.signature}`),
    proposedAction: 'copy',
    supportedActions: 'copy',
    source
  });
  return drag.start(x, y);
}

// ------------------------------------------------------------------ notebook as drop target

const INSERT_BEFORE = 'jp-ntpt-insertBefore';
const INSERT_AFTER = 'jp-ntpt-insertAfter';

function entryData(event: Drag.Event): IEntryDrag | null {
  return event.mimeData.hasData(ENTRY_MIME) ? (event.mimeData.getData(ENTRY_MIME) as IEntryDrag) : null;
}

/** The index at which a new cell dropped at height `y` goes (between the cells there). */
export function insertionIndex(notebook: Notebook, y: number): number {
  const cells = notebook.widgets;
  for (let i = 0; i < cells.length; i++) {
    const rect = cells[i].node.getBoundingClientRect();
    if (y < rect.top + rect.height / 2) {
      return i;
    }
  }
  return cells.length;
}

/** The cell whose (visible, editable) editor holds `target`, if any. */
function editorCellAt(notebook: Notebook, target: EventTarget | null): Cell | null {
  if (!(target instanceof Node)) {
    return null;
  }
  for (const cell of notebook.widgets) {
    const wrapper = cell.editorWidget;
    if (!wrapper || cell.inputHidden || !wrapper.node.contains(target)) {
      continue;
    }
    if (cell.model.type === 'markdown' && (cell as any).rendered) {
      return null;
    }
    return cell.readOnly ? null : cell;
  }
  return null;
}

function clearMarks(notebook: Notebook): void {
  for (const cls of [INSERT_BEFORE, INSERT_AFTER]) {
    for (const el of Array.from(notebook.node.getElementsByClassName(cls))) {
      el.classList.remove(cls);
    }
  }
}

function markInsertion(notebook: Notebook, index: number): void {
  clearMarks(notebook);
  const cells = notebook.widgets;
  if (index < cells.length) {
    cells[index].node.classList.add(INSERT_BEFORE);
  } else if (cells.length) {
    cells[cells.length - 1].node.classList.add(INSERT_AFTER);
  }
}

/** Insert `code` as whole lines into `cell`'s editor at the client point (x, y). */
export function insertIntoEditor(cell: Cell, code: string, x: number, y: number): boolean {
  const editor = cell.editor;
  if (!editor) {
    return false;
  }
  const position = editor.getPositionForCoordinate({ top: y, bottom: y, left: x, right: x });
  const source = cell.model.sharedModel.getSource();
  const offset = position ? editor.getOffsetAt(position) : source.length;
  const ins = insertLines(source, offset, code);
  cell.model.sharedModel.updateSource(ins.at, ins.at + ins.replace, ins.insert);
  editor.setCursorPosition(editor.getPositionAt(ins.to) ?? { line: 0, column: 0 });
  return true;
}

/** Insert a new code cell holding `code` at `index`; returns the index. */
export function insertCodeCell(notebook: Notebook, index: number, code: string): number {
  const model = notebook.model;
  if (!model) {
    return -1;
  }
  model.sharedModel.insertCell(index, { cell_type: 'code', source: code });
  notebook.activeCellIndex = index;
  return index;
}

/** Make a notebook panel accept library entries dragged from the panel. */
export function wireNotebook(panel: NotebookPanel): void {
  const notebook = panel.content;
  const node = notebook.node;

  // Capture phase: a drop on an editor is ours before CodeMirror inserts the raw text.
  node.addEventListener(
    'lm-drop',
    (event: Event) => {
      const e = event as Drag.Event;
      const data = entryData(e);
      if (!data) {
        return;
      }
      const cell = editorCellAt(notebook, e.target);
      if (!cell) {
        return;
      }
      clearMarks(notebook);
      e.preventDefault();
      e.stopPropagation();
      e.dropAction = 'copy';
      insertIntoEditor(cell, data.code, e.clientX, e.clientY);
      notebook.activeCellIndex = notebook.widgets.indexOf(cell);
    },
    true
  );

  // Bubble phase: anywhere else on the notebook (editors stop these events themselves).
  node.addEventListener('lm-dragenter', (event: Event) => {
    const e = event as Drag.Event;
    if (entryData(e)) {
      e.preventDefault();
      e.stopPropagation();
    }
  });
  node.addEventListener('lm-dragover', (event: Event) => {
    const e = event as Drag.Event;
    if (!entryData(e)) {
      return;
    }
    e.preventDefault();
    e.stopPropagation();
    e.dropAction = 'copy';
    markInsertion(notebook, insertionIndex(notebook, e.clientY));
  });
  node.addEventListener('lm-dragleave', (event: Event) => {
    const e = event as Drag.Event;
    if (entryData(e) && !(e.relatedTarget instanceof Node && node.contains(e.relatedTarget))) {
      clearMarks(notebook);
    }
  });
  node.addEventListener('lm-drop', (event: Event) => {
    const e = event as Drag.Event;
    const data = entryData(e);
    clearMarks(notebook);
    if (!data) {
      return;
    }
    e.preventDefault();
    e.stopPropagation();
    e.dropAction = 'copy';
    insertCodeCell(notebook, insertionIndex(notebook, e.clientY), data.code);
  });
}

// ------------------------------------------------------------------ panel as drop target

/** Make `node` accept neural-function cards; `onDrop` publishes them. */
export function acceptCards(node: HTMLElement, onDrop: (card: INeuralCard) => void): void {
  const ACTIVE = 'jp-ntpt-dropActive';
  const has = (e: Drag.Event) => e.mimeData.hasData(CARD_MIME);
  node.addEventListener('lm-dragenter', (event: Event) => {
    const e = event as Drag.Event;
    if (has(e)) {
      e.preventDefault();
      e.stopPropagation();
      node.classList.add(ACTIVE);
    }
  });
  node.addEventListener('lm-dragleave', (event: Event) => {
    const e = event as Drag.Event;
    if (has(e) && !(e.relatedTarget instanceof Node && node.contains(e.relatedTarget))) {
      node.classList.remove(ACTIVE);
    }
  });
  node.addEventListener('lm-dragover', (event: Event) => {
    const e = event as Drag.Event;
    if (has(e)) {
      e.preventDefault();
      e.stopPropagation();
      e.dropAction = 'copy';
    }
  });
  node.addEventListener('lm-drop', (event: Event) => {
    const e = event as Drag.Event;
    node.classList.remove(ACTIVE);
    if (!has(e)) {
      return;
    }
    e.preventDefault();
    e.stopPropagation();
    e.dropAction = 'copy';
    onDrop(e.mimeData.getData(CARD_MIME) as INeuralCard);
  });
}
