/**
 * Publishing a dropped neural-function card: pick the entry name (asking only when needed),
 * call the server, report the outcome.
 *
 * The name needs no question when the function was loaded from an entry of this same library
 * (it becomes that entry's next version), or when its own name is a valid, unused entry name.
 * Otherwise a dialog asks for one, pre-filled, and re-asks while the name breaks the library's
 * rules (checked here and again by the server).
 */
import { Dialog, InputDialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { ApiError, IPreview, IPublished, IPublishExtra } from './api';
import { h } from './dom';
import { previewRows } from './provenance';
import type { INeuralCard } from './dnd';
import type { LibraryModel } from './model';
import { NAME_RULE, nameProblem } from './names';
import { resolveStaging } from './stage';

export type Outcome =
  | { kind: 'published'; result: IPublished }
  | { kind: 'cancelled' }
  | { kind: 'error'; message: string; hint: string | null };

/** The name to publish under without asking, or null when the user must choose. */
export function defaultTarget(card: INeuralCard, model: LibraryModel): { name: string; ask: boolean } {
  const origin = card.staging?.origin ?? card.origin ?? null;
  if (origin?.name && origin.library && origin.library === model.location && !nameProblem(origin.name)) {
    return { name: origin.name, ask: false };
  }
  const own = card.staging?.name ?? card.name;
  const taken = model.entry(own) !== undefined;
  return { name: own, ask: taken || nameProblem(own) !== null };
}

export type AskName = (suggestion: string, reason: string) => Promise<string | null>;

/** The default name dialog. */
export const askName: AskName = async (suggestion, reason) => {
  const result = await InputDialog.getText({
    title: 'Publish to the neural library',
    label: `${reason}\nEntry name (${NAME_RULE}):`,
    text: suggestion,
    okLabel: 'Publish',
    cancelLabel: 'Cancel'
  });
  return result.button.accept ? (result.value ?? '').trim() : null;
};

/** Shows the preview; resolves to the description/tags to publish with, or null (cancelled). */
export type Confirm = (preview: IPreview) => Promise<IPublishExtra | null>;

/** The preview as a DOM body: a latest-vs-new table, warnings, description and tags fields. */
export function previewBody(p: IPreview): HTMLElement {
  const rows = previewRows(p).map(r =>
    h('tr', { class: r.changed ? 'jp-ntpt-changed' : '' }, [
      h('th', { text: r.what }),
      h('td', { text: r.latest }),
      h('td', { text: r.next })
    ])
  );
  const warnings = p.warnings.map(w =>
    h('li', { class: `jp-ntpt-warning jp-ntpt-warning-${w.kind}`, text: `⚠ ${w.message}`, attrs: { 'data-kind': w.kind } })
  );
  return h('div', { class: 'jp-ntpt-publishPreview' }, [
    h('div', { text: `Publishing adds ${p.name}@${p.version}.` }),
    warnings.length ? h('ul', { class: 'jp-ntpt-warnings' }, warnings) : null,
    h('table', { class: 'jp-ntpt-diff' }, [
      h('thead', {}, [h('tr', {}, [h('th', { text: '' }), h('th', { text: p.latest ? `latest (${p.latest.ref})` : 'latest' }), h('th', { text: 'new' })])]),
      h('tbody', {}, rows)
    ]),
    h('label', { text: 'Description (optional)' }),
    h('input', { class: 'jp-ntpt-description jp-mod-styled', attrs: { type: 'text', placeholder: 'what this version is' } }),
    h('label', { text: 'Tags (optional, comma separated)' }),
    h('input', { class: 'jp-ntpt-tagsInput jp-mod-styled', attrs: { type: 'text', placeholder: 'mnist, fine-tuned' } })
  ]);
}

export function parseTags(text: string): string[] {
  return text
    .split(',')
    .map(t => t.trim())
    .filter(Boolean)
    .slice(0, 50);
}

/** The default confirmation dialog (a warning button when the preview warns). */
export const confirmPublish: Confirm = async preview => {
  const body = previewBody(preview);
  const widget = new Widget({ node: body });
  const warn = preview.warnings.length > 0;
  const result = await showDialog({
    title: warn ? `Publish ${preview.name}@${preview.version}? Check the warnings` : `Publish ${preview.name}@${preview.version}?`,
    body: widget,
    buttons: [
      Dialog.cancelButton(),
      warn ? Dialog.warnButton({ label: 'Publish anyway' }) : Dialog.okButton({ label: 'Publish' })
    ]
  });
  if (!result.button.accept) {
    return null;
  }
  const description = (body.querySelector('.jp-ntpt-description') as HTMLInputElement | null)?.value.trim() ?? '';
  const tags = parseTags((body.querySelector('.jp-ntpt-tagsInput') as HTMLInputElement | null)?.value ?? '');
  return { description, tags };
};

export async function publishCard(
  card: INeuralCard,
  model: LibraryModel,
  ask: AskName = askName,
  confirm: Confirm = confirmPublish
): Promise<Outcome> {
  // the weights were staged by the kernel when the drag started: the function as it is now
  const resolved = await resolveStaging(card);
  card = resolved.card;
  if (resolved.problem) {
    return { kind: 'error', ...resolved.problem };
  }
  if (!card.staging?.id) {
    return {
      kind: 'error',
      message: `'${card.name}' cannot be published from this card: ${card.staging_error ?? 'it was not staged by the kernel'}`,
      hint: 'publish it from the notebook with Library().publish(fn), or re-run the cell that displays it'
    };
  }
  let { name, ask: mustAsk } = defaultTarget(card, model);
  let reason = nameProblem(name)
    ? `'${name}' is not a valid entry name: ${nameProblem(name)}.`
    : `An entry '${name}' already exists (publishing adds a version to it); keep the name or choose another.`;
  for (let attempt = 0; attempt < 20; attempt++) {
    if (mustAsk) {
      const answer = await ask(name, reason);
      if (answer === null) {
        return { kind: 'cancelled' };
      }
      name = answer;
      const problem = nameProblem(name);
      if (problem) {
        reason = `'${name}' is not a valid entry name: ${problem}.`;
        continue;
      }
    }
    try {
      const info = await model.preview(card.staging!.id, name);
      const preview = info?.preview ?? null;
      let extra: IPublishExtra = {};
      if (preview) {
        if (preview.duplicate) {
          const version = preview.duplicate.split('@')[1];
          return {
            kind: 'error',
            message: `Not published: these weights are already ${preview.duplicate} (same sha256)`,
            hint: `use it: Library().load(${JSON.stringify(name)}, version=${version}), or train the function further first`
          };
        }
        const answer = await confirm(preview);
        if (answer === null) {
          return { kind: 'cancelled' };
        }
        extra = answer;
      }
      const result = await model.publish(card.staging!.id, name, extra);
      return { kind: 'published', result };
    } catch (error) {
      const e = error as ApiError;
      if (e.type === 'InvalidName') {
        mustAsk = true;
        reason = e.message;
        continue;
      }
      let hint = e.hint ?? null;
      if (e.type === 'StagedNotFound' && card.staging?.library && card.staging.library !== model.location) {
        hint =
          `the kernel staged it in library ${card.staging.library}, but this server serves ${model.location}; ` +
          'start both with the same WORKBENCH_LIBRARY';
      }
      return { kind: 'error', message: e.message, hint };
    }
  }
  return { kind: 'cancelled' };
}
