// BuildRunnerImage task entry: reads and validates the inputs through the core; the action itself is not built yet.
import { runTask } from '../common/azdo-host.js';
import { InputReader } from '../common/src/inputs.js';
import { readBuildImageOptions } from '../common/src/build-image.js';

void runTask(async (host) => {
  readBuildImageOptions(new InputReader(host));
  throw new Error('BuildRunnerImage: inputs are valid, but this version of the task cannot act on them yet.');
});
