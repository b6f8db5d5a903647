// ScaleRunnerPool task entry: reads the inputs, decides and applies the replica count through the core, sets the outputs.
import { setTimeout as sleep } from 'node:timers/promises';
import { runTask } from '../common/azdo-host.js';
import { InputReader } from '../common/src/inputs.js';
import { readScaleOptions, scaleRunnerPool } from '../common/src/scale-pool.js';
import { openClusterSession } from '../common/src/kube/session.js';
import { RestAdoClient } from '../common/src/ado/rest-client.js';

void runTask(async (host) => {
  const options = readScaleOptions(new InputReader(host));
  if (options.token !== undefined) host.setSecret(options.token);
  const ado =
    options.token === undefined
      ? undefined
      : new RestAdoClient({ organizationUrl: options.organizationUrl, token: options.token, sleep: (ms) => sleep(ms), log: (m) => host.info(m) });
  const session = openClusterSession(options.target.connection, host);
  try {
    const decision = await scaleRunnerPool(options, { host, ado, connect: () => session.connect(), sleep: (ms) => sleep(ms), now: () => Date.now() });
    host.setOutput('previousReplicas', String(decision.previousReplicas));
    host.setOutput('replicas', String(decision.replicas));
    host.setOutput('queuedJobs', String(decision.queuedJobs));
    host.setOutput('busyAgents', String(decision.busyAgents));
    host.setOutput('decisionReason', decision.reason);
  } finally {
    session.close();
  }
});
