/**
 * The library model: the entries the server lists, refreshed when the library changes on disk.
 *
 * A poll asks the server for a cheap change stamp (`GET /ntpt/library/stamp`) and re-lists the
 * entries only when the stamp moved; it backs off on errors and pauses while the page is hidden.
 */
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import type { ApiError, IDetail, IEntry, ILibraryAPI, IPublished, IPublishExtra, IStagedInfo } from './api';
import { matches } from './names';

export interface IModelOptions {
  /** Milliseconds between two stamp checks (default 2000). */
  interval?: number;
  /** Start polling at once (default true). */
  autoStart?: boolean;
}

export class LibraryModel {
  constructor(
    readonly api: ILibraryAPI,
    options: IModelOptions = {}
  ) {
    const interval = options.interval ?? 2000;
    this._poll = new Poll({
      auto: options.autoStart ?? true,
      factory: () => this.refresh(),
      frequency: { interval, backoff: true, max: 30 * 1000 },
      name: 'ntpt-workbench:library',
      standby: 'when-hidden'
    });
  }

  /** Emitted whenever entries, location or error change. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** Emitted after a successful publish from the panel. */
  get published(): ISignal<this, IPublished> {
    return this._published;
  }

  get entries(): readonly IEntry[] {
    return this._entries;
  }

  get location(): string {
    return this._location;
  }

  /** What a kernel passes to `Library(...)` to open this library (null: `Library()`). */
  get loadLocation(): string | null {
    return this._loadLocation;
  }

  get stamp(): string | null {
    return this._stamp;
  }

  get error(): ApiError | null {
    return this._error;
  }

  /** True once a listing arrived. */
  get ready(): boolean {
    return this._stamp !== null;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  entry(name: string): IEntry | undefined {
    return this._entries.find(e => e.name === name);
  }

  filtered(query: string): IEntry[] {
    return this._entries.filter(e => matches(e, query));
  }

  /** Check the stamp and re-list when it moved (or when `force`). Errors are kept in `error`
   * and rethrown so that the poll backs off. */
  async refresh(force = false): Promise<void> {
    try {
      if (!force && this._stamp !== null) {
        const { stamp } = await this.api.stamp();
        if (stamp === this._stamp && this._error === null) {
          return;
        }
      }
      const listing = await this.api.list();
      this._entries = listing.entries;
      this._location = listing.location;
      this._loadLocation = listing.load_location;
      this._stamp = listing.stamp;
      this._error = null;
      this._emit();
    } catch (error) {
      const changed = this._error?.message !== (error as Error).message;
      this._error = error as ApiError;
      if (changed) {
        this._emit();
      }
      throw error;
    }
  }

  /** Refresh now, swallowing errors (they are shown through `error`). */
  async refreshNow(): Promise<void> {
    try {
      await this.refresh(true);
    } catch {
      /* kept in this.error */
    }
  }

  detail(name: string): Promise<IDetail> {
    return this.api.detail(name);
  }

  async publish(stagingId: string, name?: string, extra?: IPublishExtra): Promise<IPublished> {
    const result = await this.api.publish(stagingId, name, extra);
    await this.refreshNow();
    this._published.emit(result);
    return result;
  }

  async preview(stagingId: string, name: string): Promise<IStagedInfo | null> {
    return this.api.preview ? this.api.preview(stagingId, name) : null;
  }

  async pin(name: string, version: number | null): Promise<void> {
    await this.api.pin?.(name, version);
    await this.refreshNow();
  }

  async deprecate(name: string, version: number, reason: string, undo = false): Promise<void> {
    await this.api.deprecate?.(name, version, reason, undo);
    await this.refreshNow();
  }

  /** False while the server cannot be reached (publishing is then disabled). */
  get connected(): boolean {
    return this._error === null || (this._error.status !== 0 && this._error.status < 500);
  }

  async remove(name: string, version: number): Promise<void> {
    await this.api.remove(name, version);
    await this.refreshNow();
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this._poll.dispose();
    Signal.clearData(this);
  }

  private _emit(): void {
    if (!this._disposed) {
      this._changed.emit();
    }
  }

  private _poll: Poll;
  private _entries: IEntry[] = [];
  private _location = '';
  private _loadLocation: string | null = null;
  private _stamp: string | null = null;
  private _error: ApiError | null = null;
  private _disposed = false;
  private _changed = new Signal<this, void>(this);
  private _published = new Signal<this, IPublished>(this);
}
