/**
 * Unit tests of the pure helpers and of the library model against a mocked API
 * (`npm test`: compiled to CommonJS with tsconfig.test.json, run by node's test runner).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { IEntry, IListing, ILibraryAPI, IPublished } from '../src/api';
import { LibraryModel } from '../src/model';
import { IStageable, resolveStaging } from '../src/stage';
import { applyInsert, insertLines, loadCode, matches, nameProblem, variableName } from '../src/names';

test('entry names follow the library rules', () => {
  for (const ok of ['digit', 'net_0', 'my-net.v2', '7seg', 'a'.repeat(64)]) {
    assert.equal(nameProblem(ok), null, ok);
  }
  for (const bad of ['', '..', '../x', 'a/b', 'a\\b', '_x', '.hidden', 'a..b', 'a b', 'x\u0000', 'a'.repeat(65)]) {
    assert.notEqual(nameProblem(bad), null, bad);
  }
});

test('load code names a Python variable and the library only when needed', () => {
  assert.equal(
    loadCode('digit', 3, null),
    'from workbench.library import Library\ndigit = Library().load("digit", version=3)'
  );
  assert.equal(
    loadCode('my-net.v2', 1, '/data/lib'),
    'from workbench.library import Library\nmy_net_v2 = Library("/data/lib").load("my-net.v2", version=1)'
  );
  assert.equal(variableName('7seg'), '_7seg');
  assert.equal(variableName('class'), 'class_');
});

test('inserted code lands as whole lines', () => {
  const code = 'A\nB';
  const cases: [string, number, string][] = [
    ['', 0, 'A\nB'],
    ['x = 1', 2, 'x = 1\nA\nB'], // mid-line: after the line
    ['x = 1', 5, 'x = 1\nA\nB'], // end of the line
    ['x = 1\ny = 2', 6, 'x = 1\nA\nB\ny = 2'], // start of a line: before it
    ['x = 1\ny = 2', 0, 'A\nB\nx = 1\ny = 2'],
    ['x = 1\n', 6, 'x = 1\n\nA\nB'] // after the final newline
  ];
  for (const [source, offset, expected] of cases) {
    const ins = insertLines(source, offset, code);
    const result = applyInsert(source, ins);
    assert.equal(result, expected, JSON.stringify([source, offset]));
    assert.equal(result.slice(ins.from, ins.to), code);
  }
});

test('the filter matches every word anywhere', () => {
  const e = { name: 'digit', signature: 'Image28x28 -> Digit[10]', task: 'add2x2/top', tasks: ['calc'], tags: ['mnist'] };
  assert.ok(matches(e, ''));
  assert.ok(matches(e, 'DIGIT mnist'));
  assert.ok(matches(e, 'calc image28'));
  assert.ok(!matches(e, 'digit zebra'));
});

function entry(name: string, latest: number): IEntry {
  return {
    name,
    latest,
    versions: latest,
    signature: 'A -> B[2]',
    metrics: {},
    variable: name,
    task: null,
    dataset: null,
    parent: null,
    created: null,
    description: '',
    tags: [],
    tasks: [],
    architecture: null
  };
}

class MockAPI implements ILibraryAPI {
  stampValue = 's1';
  entries: IEntry[] = [entry('digit', 1)];
  lists = 0;
  fail: Error | null = null;
  async stamp() {
    if (this.fail) {
      throw this.fail;
    }
    return { stamp: this.stampValue, location: '/lib' };
  }
  async list(): Promise<IListing> {
    if (this.fail) {
      throw this.fail;
    }
    this.lists++;
    return { location: '/lib', load_location: null, stamp: this.stampValue, entries: this.entries };
  }
  async detail(name: string) {
    return { name, location: '/lib', variable: name, versions: [] };
  }
  async publish(id: string, name?: string): Promise<IPublished> {
    this.entries = [entry(name ?? 'digit', 2)];
    this.stampValue = 's2';
    return { entry: { name: name ?? 'digit', version: 2, ref: `${name}@2` } as any, stamp: 's2' };
  }
  async remove() {
    this.stampValue = 's3';
  }
}

test('the model re-lists only when the stamp moves', async () => {
  const api = new MockAPI();
  const model = new LibraryModel(api, { autoStart: false });
  let changes = 0;
  model.changed.connect(() => changes++);
  await model.refresh();
  assert.equal(api.lists, 1);
  assert.deepEqual(model.entries.map(e => e.name), ['digit']);
  await model.refresh();
  await model.refresh();
  assert.equal(api.lists, 1); // unchanged stamp: no listing
  api.stampValue = 's9';
  api.entries = [entry('digit', 1), entry('op', 1)];
  await model.refresh();
  assert.equal(api.lists, 2);
  assert.deepEqual(model.filtered('op').map(e => e.name), ['op']);
  assert.equal(changes, 2);
  model.dispose();
});

test('the model keeps errors and recovers', async () => {
  const api = new MockAPI();
  const model = new LibraryModel(api, { autoStart: false });
  await model.refresh();
  api.fail = new Error('server down');
  await assert.rejects(model.refresh(), /server down/);
  assert.equal(model.error?.message, 'server down');
  api.fail = null;
  await model.refresh();
  assert.equal(model.error, null);
  model.dispose();
});

test('publishing refreshes the model and announces the new version', async () => {
  const api = new MockAPI();
  const model = new LibraryModel(api, { autoStart: false });
  await model.refresh();
  const seen: string[] = [];
  model.published.connect((_, r) => seen.push(r.entry.ref));
  await model.publish('0'.repeat(32), 'digit');
  assert.deepEqual(seen, ['digit@2']);
  assert.equal(model.entry('digit')?.latest, 2);
  model.dispose();
});

test('a card staged at drag time carries what the kernel staged then', async () => {
  const id = 'a'.repeat(32);
  const card: IStageable = {
    name: 'fresh', staging: null, pending: Promise.resolve({ staging: { id, name: 'fresh' }, error: null })
  };
  const ok = await resolveStaging(card);
  assert.equal(ok.problem, null);
  assert.equal(ok.card.staging?.id, id);
  assert.equal(ok.card.pending, null);
  const bad = await resolveStaging({ ...card, pending: Promise.resolve({ staging: null, error: 'no arch', hint: 'h' }) });
  assert.match(bad.problem!.message, /could not be staged: no arch/);
  assert.equal(bad.problem!.hint, 'h');
  const plain: IStageable = { name: 'old', staging: { id } };
  assert.deepEqual(await resolveStaging(plain), { card: plain, problem: null });
});

// ------------------------------------------------------------------ provenance renderers

import type { IPreview, IVersion } from '../src/api';
import { previewRows, runText, trainedText, versionDetails } from '../src/provenance';

const PREVIEW: IPreview = {
  name: 'digit',
  version: 3,
  new: {
    architecture: "mlp(hidden=[16], out=10)",
    parameters: 12730,
    metrics: { program_val_accuracy: 0.97 },
    trained: 'untrained',
    task: 'add2x2'
  },
  latest: {
    ref: 'digit@2',
    architecture: "lenet(out=10)",
    parameters: 44426,
    metrics: { accuracy: 0.95 },
    trained: 'trained',
    task: 'add2x2'
  },
  parent: null,
  duplicate: null,
  warnings: [{ kind: 'untrained', message: 'never trained' }]
};

test('the publish preview lists what changes against the latest version', () => {
  const rows = previewRows(PREVIEW);
  const by = Object.fromEntries(rows.map(r => [r.what, r]));
  assert.deepEqual(
    rows.map(r => r.what),
    ['architecture', 'parameters', 'trained', 'accuracy', 'program_val_accuracy', 'lineage', 'task']
  );
  assert.equal(by.architecture.latest, 'lenet(out=10)');
  assert.equal(by.architecture.next, 'mlp(hidden=[16], out=10)');
  assert.ok(by.architecture.changed);
  assert.equal(by.parameters.next, '12,730');
  assert.equal(by.trained.next, 'NEVER TRAINED');
  assert.ok(by.trained.changed);
  assert.equal(by.accuracy.next, '–');
  assert.equal(by.program_val_accuracy.next, '0.970');
  assert.equal(by.lineage.next, 'new lineage (not derived from it)');
  assert.ok(!by.task.changed);
  const derived = previewRows({ ...PREVIEW, parent: 2, latest: null });
  assert.equal(derived.find(r => r.what === 'lineage')!.next, 'from digit@2');
  assert.equal(derived.find(r => r.what === 'architecture')!.changed, false);
});

test('a version shows architecture, parameters, hash and how it was trained', () => {
  const v: IVersion = {
    name: 'digit',
    version: 2,
    ref: 'digit@2',
    signature_text: 'Image28x28 -> Digit[10]',
    architecture_text: 'lenet(out=10)',
    metrics: { accuracy: 0.9712 },
    task: 'add2x2',
    parent: 1,
    created: '2026-12-04T22:00:00Z',
    tags: ['mnist'],
    description: 'trained with digit labels',
    dataset: '20000 training examples',
    parameters: 44426,
    weights_sha256: 'abcdef0123456789abcdef',
    run: { source: 'fit', steps: 600, seconds: 92.04, restart: 3, trained: 'trained' }
  };
  const d = Object.fromEntries(versionDetails(v));
  assert.equal(d.architecture, 'lenet(out=10)');
  assert.equal(d.parameters, '44,426');
  assert.equal(d.sha256, 'abcdef0123456789…');
  assert.equal(d.run, 'fit · 600 steps · 92.0 s · restart 3');
  assert.equal(d.trained, 'trained');
  assert.equal(d.parent, 'digit@1');
  assert.equal(d['data set'], '20000 training examples');
  assert.equal(d.description, 'trained with digit labels');
  assert.equal(d.metrics, 'accuracy 0.971');
  assert.ok(!('deprecated' in d));
  assert.equal(runText(null), '');
  assert.equal(trainedText('unchanged'), 'unchanged since loaded');
});
