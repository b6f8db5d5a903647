// ScaleRunnerPool task entry: reads the inputs, decides and applies the replica count through the core, sets the outputs.
import { setTimeout as sleep } from 'node:timers/promises';
import { adoClient, runTask } from '../common/azdo-host.js';
import { InputReader } from '../common/src/inputs.js';
import { readScaleOptions, scaleRunnerPool } from '../common/src/scale-pool.js';
import { openClusterSession } from '../common/src/kube/session.js';

void runTask(async (host) => {
  const options = readScaleOptions(new InputReader(host));
  const ado = options.token === undefined ? undefined : adoClient(host, options.organizationUrl, options.token);
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
