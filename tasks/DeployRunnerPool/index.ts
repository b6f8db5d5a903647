// DeployRunnerPool task entry: reads the inputs, deploys the pool through the core, sets the outputs.
import { writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { adoClient, runTask } from '../common/azdo-host.js';
import { InputReader } from '../common/src/inputs.js';
import { deployRunnerPool, readDeployOptions } from '../common/src/deploy-pool.js';
import { openClusterSession } from '../common/src/kube/session.js';
import { credentialSecrets } from '../common/src/model.js';

void runTask(async (host) => {
  const options = readDeployOptions(new InputReader(host));
  for (const secret of credentialSecrets(options.pool.credential)) host.setSecret(secret);
  const session = openClusterSession(options.target.connection, host);
  try {
    const { credential, organizationUrl } = options.pool;
    const result = await deployRunnerPool(options, {
      host,
      ado: credential.kind === 'pat' ? adoClient(host, organizationUrl, credential.token) : undefined,
      now: () => new Date(),
      connect: () => session.connect(),
      writeFile: (path, text) => writeFileSync(path, text),
      sleep: (ms) => sleep(ms),
    });
    host.setOutput('statefulSetName', result.statefulSetName);
    host.setOutput('replicas', String(result.replicas));
    if (result.manifestPath) host.setOutput('manifestPath', result.manifestPath);
    host.setOutput('podRecycling', result.podRecycling);
  } finally {
    session.close();
  }
});
