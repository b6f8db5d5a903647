// BuildRunnerImage task entry: reads the inputs, builds and pushes through the core, sets the outputs.
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { extensionIdentity, runTask } from '../../src/clients/task-lib-host.js';
import * as wire from '../../src/wiring/index.js';
import { buildSummary, InputReader, readBuildImageOptions } from '../../src/core/index.js';

/** Where docker and buildah (containers/image) look for the agent user's logins, in their order. */
function existingLogins() {
  const { DOCKER_CONFIG, REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR } = process.env;
  const dockerConfig = join(DOCKER_CONFIG ?? join(homedir(), '.docker'), 'config.json');
  const containersAuth = REGISTRY_AUTH_FILE
    ? [REGISTRY_AUTH_FILE]
    : [
      XDG_RUNTIME_DIR ? join(XDG_RUNTIME_DIR, 'containers', 'auth.json') : `/run/containers/${process.getuid?.() ?? 0}/auth.json`,
      join(homedir(), '.config', 'containers', 'auth.json'),
      join(homedir(), '.docker', 'config.json'),
    ];
  return { docker: [dockerConfig], buildah: containersAuth };
}

void runTask(async (host) => {
  const options = readBuildImageOptions(new InputReader(host));
  const result = await wire.build({ host, extension: extensionIdentity() }, options, {
    // The built-in Dockerfile and entrypoint ship inside the task folder (scripts/build.mjs puts them there).
    builtinContext: join(__dirname, 'runner-image'),
    tempDir: host.getVariable('Agent.TempDirectory') ?? tmpdir(),
    existingLogins: existingLogins(),
  });
  host.setOutput('imageReference', result.imageReference);
  if (result.digest) host.setOutput('imageDigest', result.digest);
  host.setOutput('imageTags', result.tags.join(','));
  host.addSummary('Runner image', buildSummary(options, result));
});
