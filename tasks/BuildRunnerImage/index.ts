// BuildRunnerImage task entry: reads the inputs, builds and pushes through the core, sets the outputs.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTask } from '../common/azdo-host.js';
import { processCommands } from '../common/process-commands.js';
import { InputReader } from '../common/src/inputs.js';
import { buildRunnerImage, buildSummary, readBuildImageOptions } from '../common/src/build-image.js';

void runTask(async (host) => {
  const options = readBuildImageOptions(new InputReader(host));
  const result = await buildRunnerImage(options, {
    host,
    commands: processCommands,
    // The built-in Dockerfile and entrypoint ship inside the task folder (scripts/build.mjs puts them there).
    builtinContext: join(__dirname, 'runner-image'),
    tempDir: host.getVariable('Agent.TempDirectory') ?? tmpdir(),
  });
  host.setOutput('imageReference', result.imageReference);
  if (result.digest) host.setOutput('imageDigest', result.digest);
  host.setOutput('imageTags', result.tags.join(','));
  host.addSummary('Runner image', buildSummary(options, result));
});
