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
import { wireNotebook } from './dnd';
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
