// ScaleRunnerPool task entry: reads the inputs, decides and applies the replica count through the core, sets the outputs.
import { extensionIdentity, runTask } from '../../src/clients/task-lib-host.js';
import { openClusterSession } from '../../src/clients/cluster-session.js';
import * as wire from '../../src/wiring/index.js';
import { InputReader, readScaleOptions } from '../../src/core/index.js';

void runTask(async (host) => {
  const options = readScaleOptions(new InputReader(host));
  const session = openClusterSession(options.target.connection, host);
  try {
    const decision = await wire.scale({ host, extension: extensionIdentity(), connect: () => session.connect() }, options);
    host.setOutput('previousReplicas', String(decision.previousReplicas));
    host.setOutput('replicas', String(decision.replicas));
    host.setOutput('queuedJobs', String(decision.queuedJobs));
    host.setOutput('busyAgents', String(decision.busyAgents));
    host.setOutput('decisionReason', decision.reason);
  } finally {
    session.close();
  }
});
