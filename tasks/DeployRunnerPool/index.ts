// DeployRunnerPool task entry: reads the inputs, deploys the pool through the core, sets the outputs.
import { adoClient, extensionIdentity, runTask } from '../../src/clients/task-lib-host.js';
import { openClusterSession } from '../../src/clients/cluster-session.js';
import { nodeFiles } from '../../src/clients/node-files.js';
import { systemClock } from '../../src/clients/system-clock.js';
import { autoscalerKeyMaker } from '../../src/clients/autoscaler-keys.js';
import { deployRunnerPool } from '../../src/flows/deploy-pool.js';
import { credentialSecrets, InputReader, readDeployOptions } from '../../src/core/index.js';

void runTask(async (host) => {
  const options = readDeployOptions(new InputReader(host));
  options.pool.extension = extensionIdentity();
  for (const secret of credentialSecrets(options.pool.credential)) host.setSecret(secret);
  const session = openClusterSession(options.target.connection, host);
  try {
    const { credential, organizationUrl } = options.pool;
    const result = await deployRunnerPool(options, {
      host,
      ado: credential.kind === 'pat' ? adoClient(host, organizationUrl, credential.token) : undefined,
      connect: () => session.connect(),
      files: nodeFiles,
      clock: systemClock,
      keys: autoscalerKeyMaker,
    });
    host.setOutput('statefulSetName', result.statefulSetName);
    host.setOutput('replicas', String(result.replicas));
    if (result.manifestPath) host.setOutput('manifestPath', result.manifestPath);
    host.setOutput('podRecycling', result.podRecycling);
  } finally {
    session.close();
  }
});
