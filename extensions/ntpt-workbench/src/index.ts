/**
 * NTPT Workbench for JupyterLab: plugin wiring.
 *
 * - the "Neural library" side panel (left area), backed by the server extension's REST API;
 * - every notebook accepts library entries dragged from the panel;
 * - renderers for program graphs, soft traces and neural-function cards.
 */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';

import { LibraryAPI } from './api';
import { IStageReply, setStager, wireNotebook } from './dnd';
import { LibraryModel } from './model';
import { LibraryPanel } from './panel';
import { rendererFactories } from './renderers';

const PLUGIN_ID = 'ntpt-workbench:plugin';

namespace CommandIDs {
  export const open = 'ntpt-workbench:open-library';
  export const refresh = 'ntpt-workbench:refresh-library';
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Neural-library panel with drag and drop, and renderers for NTPT outputs.',
  autoStart: true,
  requires: [IRenderMimeRegistry],
  optional: [INotebookTracker, ILayoutRestorer, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    rendermime: IRenderMimeRegistry,
    notebooks: INotebookTracker | null,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null
  ) => {
    for (const factory of rendererFactories) {
      rendermime.addFactory(factory, factory.defaultRank);
    }

    const model = new LibraryModel(new LibraryAPI());
    const panel = new LibraryPanel(model);
    app.shell.add(panel, 'left', { rank: 650 });
    restorer?.add(panel, panel.id);

    if (notebooks) {
      notebooks.forEach(nb => wireNotebook(nb));
      notebooks.widgetAdded.connect((_, nb) => wireNotebook(nb));
      // a card being dragged: the kernel of the notebook showing it stages the function's weights now
      setStager(async (node: HTMLElement, token: string): Promise<IStageReply> => {
        const owner = notebooks.find(nb => nb.node.contains(node));
        const kernel = owner?.sessionContext.session?.kernel;
        if (!kernel) {
          return { staging: null, error: 'the notebook showing this card has no running kernel' };
        }
        const expr = `__import__('workbench.viz.cards', fromlist=['stage_for_drag']).stage_for_drag(${JSON.stringify(token)})`;
        const reply = await kernel.requestExecute({
          code: '',
          silent: true,
          store_history: false,
          user_expressions: { stage: expr }
        }).done;
        const result = (reply.content as any).user_expressions?.stage;
        if (!result || result.status !== 'ok') {
          return { staging: null, error: `the kernel could not stage it: ${result?.ename ?? 'no reply'} ${result?.evalue ?? ''}` };
        }
        const data = result.data?.['application/json'];
        return data ?? { staging: null, error: 'the kernel answered without data (is workbench installed there?)' };
      });
    }

    app.commands.addCommand(CommandIDs.open, {
      label: 'Show the Neural Library',
      execute: () => app.shell.activateById(panel.id)
    });
    app.commands.addCommand(CommandIDs.refresh, {
      label: 'Refresh the Neural Library',
      execute: () => model.refreshNow()
    });
    palette?.addItem({ command: CommandIDs.open, category: 'NTPT Workbench' });
    palette?.addItem({ command: CommandIDs.refresh, category: 'NTPT Workbench' });
  }
};

export default plugin;
