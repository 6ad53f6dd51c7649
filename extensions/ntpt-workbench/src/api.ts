/**
 * REST client of the server extension (`<base_url>/ntpt/library/...`).
 *
 * Every request goes through `ServerConnection.makeRequest`, which adds the token / XSRF header.
 * Server errors arrive as JSON `{error, message, hint}` and are thrown as `ApiError`.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** One entry of the library, as listed by `GET /ntpt/library`. */
export interface IEntry {
  name: string;
  latest: number;
  versions: number;
  signature: string;
  metrics: Record<string, number>;
  variable: string;
  task: string | null;
  dataset: string | null;
  parent: number | null;
  created: string | null;
  description: string;
  tags: string[];
  tasks: string[];
  architecture: string | null;
  /** The version `Library().load(name)` returns (pinned, else latest not deprecated). */
  current?: number;
  pinned?: number | null;
  deprecated?: number[];
  parameters?: number | null;
  weights_sha256?: string | null;
  run?: IRun;
}

/** How a version was trained (`provenance.run` of its manifest). */
export interface IRun {
  source?: string;
  trained?: string;
  steps?: number;
  seconds?: number;
  config?: Record<string, unknown>;
  restart?: number;
  stage?: number;
  [key: string]: unknown;
}

export interface IListing {
  location: string;
  /** What a kernel passes to `Library(...)`; null: the default (`Library()`) is this library. */
  load_location: string | null;
  stamp: string;
  entries: IEntry[];
}

/** One version, as in `GET /ntpt/library/entries/<name>` and the publish reply. */
export interface IVersion {
  name: string;
  version: number;
  ref: string;
  signature_text: string;
  architecture_text: string;
  metrics: Record<string, number>;
  task: string | null;
  parent: number | null;
  created: string;
  tags: string[];
  description: string;
  dataset?: string | null;
  parameters?: number | null;
  weights_sha256?: string;
  run?: IRun;
  pinned?: boolean;
  deprecated?: string | null;
}

export interface IDetail {
  name: string;
  location: string;
  variable: string;
  current?: number | null;
  pinned?: number | null;
  versions: IVersion[];
}

/** One side of the publish preview. */
export interface IPreviewSide {
  ref?: string;
  architecture: string;
  parameters: number | null;
  metrics: Record<string, number>;
  trained: string | null;
  task?: string | null;
  signature?: string | null;
}

/** What publishing a staged function as `name` changes against the entry's latest version. */
export interface IPreview {
  name: string;
  version: number;
  new: IPreviewSide & { dataset?: string | null; run?: IRun };
  latest: IPreviewSide | null;
  parent: number | null;
  duplicate: string | null;
  warnings: { kind: string; message: string }[];
}

export interface IStagedInfo {
  id: string;
  draft: Record<string, unknown>;
  exists: boolean;
  preview: IPreview | null;
}

export interface IPublishExtra {
  description?: string;
  tags?: string[];
}

export interface IPublished {
  entry: IVersion;
  stamp: string;
}

/** The subset of the client the model and panel use (mocked in unit tests). */
export interface ILibraryAPI {
  stamp(): Promise<{ stamp: string; location: string }>;
  list(): Promise<IListing>;
  detail(name: string): Promise<IDetail>;
  publish(stagingId: string, name?: string, extra?: IPublishExtra): Promise<IPublished>;
  remove(name: string, version: number): Promise<void>;
  preview?(stagingId: string, name: string): Promise<IStagedInfo>;
  pin?(name: string, version: number | null): Promise<{ current: number; pinned: number | null }>;
  deprecate?(name: string, version: number, reason: string, undo?: boolean): Promise<unknown>;
}

/** An error reply of the server (or a network failure). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly hint: string | null = null
  ) {
    super(message);
  }
}

export class LibraryAPI implements ILibraryAPI {
  constructor(
    private readonly settings: ServerConnection.ISettings = ServerConnection.makeSettings()
  ) {}

  stamp(): Promise<{ stamp: string; location: string }> {
    return this.request('stamp');
  }

  list(): Promise<IListing> {
    return this.request('');
  }

  detail(name: string): Promise<IDetail> {
    return this.request(`entries/${encodeURIComponent(name)}`);
  }

  publish(stagingId: string, name?: string, extra: IPublishExtra = {}): Promise<IPublished> {
    const body: Record<string, unknown> = { staging_id: stagingId };
    if (name !== undefined) {
      body.name = name;
    }
    if (extra.description) {
      body.description = extra.description;
    }
    if (extra.tags?.length) {
      body.tags = extra.tags;
    }
    return this.request('publish', { method: 'POST', body: JSON.stringify(body) });
  }

  preview(stagingId: string, name: string): Promise<IStagedInfo> {
    return this.request(`staging/${encodeURIComponent(stagingId)}?name=${encodeURIComponent(name)}`);
  }

  pin(name: string, version: number | null): Promise<{ current: number; pinned: number | null }> {
    return this.request(`entries/${encodeURIComponent(name)}/pin`, {
      method: 'POST',
      body: JSON.stringify({ version })
    });
  }

  deprecate(name: string, version: number, reason: string, undo = false): Promise<unknown> {
    return this.request(`entries/${encodeURIComponent(name)}/versions/${version}/deprecate`, {
      method: 'POST',
      body: JSON.stringify({ reason, undo })
    });
  }

  async remove(name: string, version: number): Promise<void> {
    await this.request(`entries/${encodeURIComponent(name)}/versions/${version}`, {
      method: 'DELETE'
    });
  }

  private async request<T>(path: string, init: RequestInit = {}): Promise<T> {
    const url = URLExt.join(this.settings.baseUrl, 'ntpt', 'library', path);
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(url, init, this.settings);
    } catch (error) {
      throw new ApiError(0, 'NetworkError', String(error), 'is the Jupyter server running?');
    }
    const text = await response.text();
    let data: any = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!response.ok) {
      throw new ApiError(
        response.status,
        data?.error ?? `HTTP ${response.status}`,
        data?.message ?? response.statusText,
        data?.hint ?? null
      );
    }
    return data as T;
  }
}
