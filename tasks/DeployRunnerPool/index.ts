// DeployRunnerPool task entry: reads the inputs, deploys the pool through the core, sets the outputs.
import { extensionIdentity, runTask } from '../../src/clients/task-lib-host.js';
import { openClusterSession } from '../../src/clients/cluster-session.js';
import * as wire from '../../src/wiring/index.js';
import { credentialSecrets, InputReader, readDeployOptions } from '../../src/core/index.js';

void runTask(async (host) => {
  const options = readDeployOptions(new InputReader(host));
  for (const secret of credentialSecrets(options.pool.credential)) host.setSecret(secret);
  const session = openClusterSession(options.target.connection, host);
  try {
    const result = await wire.deploy({ host, extension: extensionIdentity(), connect: () => session.connect() }, options);
    host.setOutput('statefulSetName', result.statefulSetName);
    host.setOutput('replicas', String(result.replicas));
    if (result.manifestPath) host.setOutput('manifestPath', result.manifestPath);
    host.setOutput('podRecycling', result.podRecycling);
  } finally {
    session.close();
  }
});
