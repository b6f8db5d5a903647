// Where DeployRunnerPool may write its manifests: a file below one of the agent's working folders, unless the user
// opts out, so that a manifestPath such as ../../etc/passwd cannot overwrite what the agent's user may write.
import type { DeployOptions } from '../core/deploy-options.js';
import type { Files } from '../core/ports/files.js';
import type { TaskHost } from '../core/ports/host.js';
import { UnusableInput } from '../core/inputs.js';

/** The agent's working folders (those set on this agent): its temp folder, the workspace, the sources. */
export const workingFolderVariables = ['Agent.TempDirectory', 'Pipeline.Workspace', 'Build.SourcesDirectory', 'System.DefaultWorkingDirectory'];
// The agent hands an empty filePath input over as the sources folder (TaskRunner.TranslateFilePathInput).
const emptyFilePathVariables = ['Build.SourcesDirectory', 'System.DefaultWorkingDirectory'];

/**
 * The real path the manifests go to, checked before anything changes; undefined when none is to be written (apply
 * without manifestPath). Fails, naming the input, on a folder, a missing folder, or a place outside the agent's folders.
 */
export function manifestTarget(options: DeployOptions, host: Pick<TaskHost, 'getVariable'>, files: Files): string | undefined {
  const given = options.manifestPath;
  if (given === undefined) return undefined;
  const fail = (what: string) => new UnusableInput('manifestPath', what);
  const real = (variables: string[]) => variables.flatMap((name) => host.getVariable(name) ?? []).flatMap((path) => files.writeTarget(path) ?? []);
  const target = files.writeTarget(given);
  if (target === undefined) throw fail(`the folder '${files.dirname(given)}' does not exist.`);
  if (files.kind(target) === 'directory') {
    if (options.action === 'apply' && real(emptyFilePathVariables).includes(target)) return undefined;
    throw fail(`'${given}' is a folder: name a file in it, such as ${files.join(given, 'runner-pool.yaml')}.`);
  }
  if (!options.allowManifestOutsideWorkspace && !real(workingFolderVariables).some((folder) => files.isWithin(target, folder))) {
    throw fail(`'${given}' is outside the agent's working folders (${workingFolderVariables.join(', ')}); write below one of them, or set allowManifestOutsideWorkspace.`);
  }
  return target;
}
