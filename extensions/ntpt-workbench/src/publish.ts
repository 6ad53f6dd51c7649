/**
 * Publishing a dropped neural-function card: pick the entry name (asking only when needed),
 * call the server, report the outcome.
 *
 * The name needs no question when the function was loaded from an entry of this same library
 * (it becomes that entry's next version), or when its own name is a valid, unused entry name.
 * Otherwise a dialog asks for one, pre-filled, and re-asks while the name breaks the library's
 * rules (checked here and again by the server).
 */
import { InputDialog } from '@jupyterlab/apputils';

import { ApiError, IPublished } from './api';
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
  const origin = card.origin ?? null;
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

export async function publishCard(card: INeuralCard, model: LibraryModel, ask: AskName = askName): Promise<Outcome> {
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
      const result = await model.publish(card.staging!.id, name);
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
