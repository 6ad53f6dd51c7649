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
}

export interface IDetail {
  name: string;
  location: string;
  variable: string;
  versions: IVersion[];
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
  publish(stagingId: string, name?: string): Promise<IPublished>;
  remove(name: string, version: number): Promise<void>;
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

  publish(stagingId: string, name?: string): Promise<IPublished> {
    const body: Record<string, string> = { staging_id: stagingId };
    if (name !== undefined) {
      body.name = name;
    }
    return this.request('publish', { method: 'POST', body: JSON.stringify(body) });
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
