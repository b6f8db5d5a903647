// DeployRunnerPool task entry: reads and validates the inputs through the core; the action itself is not built yet.
import { runTask } from '../common/azdo-host.js';
import { InputReader } from '../common/src/inputs.js';
import { readDeployOptions } from '../common/src/deploy-pool.js';

void runTask(async (host) => {
  readDeployOptions(new InputReader(host));
  throw new Error('DeployRunnerPool: inputs are valid, but this version of the task cannot act on them yet.');
});
