/**
 * Drag-time staging: a neural-function card names its function in the kernel (a token); when a
 * drag starts, the kernel stages the function's weights as they are then. Pure helpers (no DOM).
 */

export interface IStaging {
  id: string;
  name?: string;
  signature?: string;
  library?: string | null;
  token?: string;
  /** The function's origin when it was staged (it may have been published or loaded since display). */
  origin?: { library?: string; name?: string; version?: number } | null;
}

/** What the kernel's `stage_for_drag(token)` answers. */
export interface IStageReply {
  staging: IStaging | null;
  error: string | null;
  hint?: string | null;
}

export interface IStageable {
  name: string;
  staging: IStaging | null;
  staging_error?: string | null;
  pending?: Promise<IStageReply> | null;
}

/** The card with its drag-time staging resolved; `problem` says why it cannot be published. */
export async function resolveStaging<T extends IStageable>(
  card: T
): Promise<{ card: T; problem: { message: string; hint: string } | null }> {
  if (!card.pending) {
    return { card, problem: null };
  }
  const reply = await card.pending;
  const done = { ...card, pending: null, staging: reply.staging, staging_error: reply.error };
  if (reply.staging?.id) {
    return { card: done, problem: null };
  }
  return {
    card: done,
    problem: {
      message: `'${card.name}' could not be staged: ${reply.error ?? 'the kernel did not answer'}`,
      hint: reply.hint ?? 'publish it from the notebook with Library().publish(fn)'
    }
  };
}
