// ScaleRunnerPool task entry: reads the inputs, decides and applies the replica count through the core, sets the outputs.
import { adoClient, runTask } from '../../src/clients/task-lib-host.js';
import { openClusterSession } from '../../src/clients/cluster-session.js';
import { systemClock } from '../../src/clients/system-clock.js';
import { scaleRunnerPool } from '../../src/flows/scale-pool.js';
import { InputReader, readScaleOptions } from '../../src/core/index.js';

void runTask(async (host) => {
  const options = readScaleOptions(new InputReader(host));
  const ado = options.token === undefined ? undefined : adoClient(host, options.organizationUrl, options.token);
  const session = openClusterSession(options.target.connection, host);
  try {
    const decision = await scaleRunnerPool(options, { host, ado, connect: () => session.connect(), clock: systemClock });
    host.setOutput('previousReplicas', String(decision.previousReplicas));
    host.setOutput('replicas', String(decision.replicas));
    host.setOutput('queuedJobs', String(decision.queuedJobs));
    host.setOutput('busyAgents', String(decision.busyAgents));
    host.setOutput('decisionReason', decision.reason);
  } finally {
    session.close();
  }
});
