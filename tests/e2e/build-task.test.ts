// E2E: the bundled BuildRunnerImage task builds the runner image with docker and with buildah, pushes it to a registry
// with basic auth, and the image pulled back by digest passes the runner image's core checks. Nothing is pulled from
// the internet: the base is the local Debian image, the agent package comes from the emulator.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { docker } from '../support/docker.js';
import { run } from '../support/process.js';
import { POOL, startBuildTaskWorld, type BuildTaskWorld } from '../support/build-task-world.js';
import { checkCredentialUnreachable, checkRunsOneJob, RunnerContainers } from '../support/runner-checks.js';
import { registryConnectionId, type TaskRun } from '../support/run-task.js';

const PORT = 5055;
const builders = ['docker', 'buildah'] as const;
type ImageBuilder = (typeof builders)[number];

let world: BuildTaskWorld;
/** The imageReference output of each builder's runner image build. */
const built: Partial<Record<ImageBuilder, string>> = {};
const runners: RunnerContainers[] = [];

before(async () => {
  world = await startBuildTaskWorld(PORT);
});

after(async () => {
  for (const containers of runners) await containers.removeAll();
  await world?.stop();
});

const succeeded = (task: TaskRun) => assert.equal(task.result, 'Succeeded', `${task.message}\n${task.stdout.slice(-3000)}`);

/** The digest the registry serves for every tag; fails unless all tags have the same. */
async function servedDigest(name: string, tags: string[]): Promise<string> {
  const digests = await Promise.all(tags.map((tag) => world.registry.manifestDigest(name, tag)));
  assert.ok(digests.every((d) => d === digests[0]), `tags of ${name} differ: ${digests.join(', ')}`);
  return digests[0];
}

for (const builder of builders) {
  test(`${builder}: builds the runner image, pushes every tag, and the outputs name the digest the registry serves`, async () => {
    // No registry in the repository: the task puts the connection's in front, as Docker@2 does.
    const name = `e2e/runner-${builder}`;
    const task = await world.runTask(world.builtinInputs(builder, name, 'one\ntwo'));
    succeeded(task);
    assert.match(task.stdout, new RegExp(`Building with ${builder}\\.`));
    // The one line that names the password is the agent's instruction to mask it.
    const logged = task.stdout.split('\n').filter((line) => line.includes(world.registry.password));
    assert.deepEqual(logged, [`##vso[task.setsecret]${world.registry.password}`], 'the registry password is never logged');
    assert.deepEqual((await world.registry.tags(name)).sort(), ['one', 'two']);
    const digest = await servedDigest(name, ['one', 'two']);
    assert.equal(task.outputs.imageDigest, digest);
    assert.equal(task.outputs.imageReference, `${world.registry.address}/${name}@${digest}`);
    assert.equal(task.outputs.imageTags, 'one,two');
    const summaryFile = /##vso\[task\.addattachment type=Distributedtask\.Core\.Summary;name=Runner image;\](.+)/.exec(task.stdout)?.[1];
    assert.ok(summaryFile, 'the run attaches a summary');
    const summary = readFileSync(summaryFile, 'utf8');
    for (const row of [`| digest | ${digest} |`, `| builder | ${builder} |`, '| base image | localhost/debian:bookworm |']) assert.ok(summary.includes(row), `${row} in\n${summary}`);
    assert.match(summary, /\| size \| [1-9]\d+ MB \|/);

    await world.removeLocalImages(name);
    await world.pull(task.outputs.imageReference);
    const labels = JSON.parse(await docker(['image', 'inspect', '--format', '{{json .Config.Labels}}', task.outputs.imageReference])) as Record<string, string>;
    assert.equal(labels['org.opencontainers.image.title'], 'Azure DevOps Runner agent');
    built[builder] = task.outputs.imageReference;
  });
}

test('the pulled images pass the runner image checks: non-root, registers and runs a job, the PAT is out of reach', async () => {
  const canary = `canary-${randomBytes(12).toString('hex')}`;
  for (const builder of builders) {
    const image = built[builder];
    assert.ok(image, `the ${builder} build test ran first`);
    const containers = new RunnerContainers({ image, emulator: world.emulator, pool: POOL, token: world.token });
    runners.push(containers);
    await checkRunsOneJob(containers, `${builder}-0`);
    await checkCredentialUnreachable(containers, `${builder}-scan`, 'pat', canary);
  }
});

/** A Dockerfile FROM the image in RUNNER_IMAGE that adds a tool, in a folder of the world's scratch. */
function derivedDockerfile(): string {
  const context = join(world.scratch, 'derived');
  if (!existsSync(context)) {
    mkdirSync(context);
    writeFileSync(join(context, 'Dockerfile'), 'ARG RUNNER_IMAGE\nFROM ${RUNNER_IMAGE}\nCOPY hello-tool /usr/local/bin/hello-tool\n');
    writeFileSync(join(context, 'hello-tool'), '#!/bin/sh\necho "hello-tool runs as $(id -u) on $(jq --version)"\n');
    chmodSync(join(context, 'hello-tool'), 0o755);
  }
  return join(context, 'Dockerfile');
}

const runsHelloTool = async (image: string) =>
  assert.match(await docker(['run', '--rm', '--entrypoint', 'hello-tool', image]), /^hello-tool runs as 10001 on jq-1\.\d+/);

test('your own Dockerfile FROM the built image adds a tool, with either builder', async () => {
  for (const builder of builders) {
    // The tag the previous build pushed: local to buildah's storage; docker pulls it back with the task's login.
    const runner = `${world.registry.address}/e2e/runner-${builder}:one`;
    const name = `e2e/runner-${builder}-tools`;
    const task = await world.runTask({
      imageRepository: name, tags: 'tools', builder, dockerfileSource: 'custom', dockerfile: derivedDockerfile(),
      buildArguments: `RUNNER_IMAGE=${runner}`, dockerRegistryServiceConnection: registryConnectionId,
    });
    succeeded(task);
    assert.equal(task.outputs.imageDigest, await servedDigest(name, ['tools']));
    await world.pull(task.outputs.imageReference);
    await runsHelloTool(task.outputs.imageReference);
  }
});

test("without a push, docker keeps the agent's own login (DOCKER_CONFIG) to pull a private FROM image", async () => {
  const local = 'localhost/adr-e2e-private-from';
  const inputs = {
    imageRepository: local, tags: 'local', builder: 'docker', push: 'false', dockerfileSource: 'custom', dockerfile: derivedDockerfile(),
    buildArguments: `RUNNER_IMAGE=${world.registry.address}/e2e/runner-docker:one`,
  };
  try {
    await world.removeLocalImages('e2e/runner-docker');
    const anonymous = await world.runTask(inputs);
    assert.equal(anonymous.result, 'Failed');
    assert.match(anonymous.message ?? '', /^The image build failed \(docker exited 1\):.*no basic auth credentials/s);

    const task = await world.runTask(inputs, { env: { DOCKER_CONFIG: world.dockerConfig } });
    succeeded(task);
    assert.equal(task.outputs.imageReference, `${local}:local`);
    assert.equal(task.outputs.imageDigest, undefined);
    await runsHelloTool(task.outputs.imageReference);
    assert.deepEqual(readdirSync(world.dockerConfig), ['config.json'], 'the agent user\'s docker config is left as it was');
  } finally {
    await run('docker', ['rmi', '-f', `${local}:local`]);
  }
});

test('wrong registry credentials: a clear error before anything is built, and no tag in the registry', async () => {
  for (const builder of builders) {
    const name = `e2e/refused-${builder}`;
    const task = await world.runTask(world.builtinInputs(builder, name, 'refused'), { password: 'not-the-password' });
    assert.equal(task.result, 'Failed');
    assert.match(task.message ?? '', new RegExp(`^Logging in to ${world.registry.address.replace(/\./g, '\\.')} failed \\(${builder} exited \\d+\\):.*(unauthorized|invalid username/password)`, 'i'));
    assert.ok(!task.stdout.includes(`[command]${builder} build`), 'nothing was built');
    assert.deepEqual(await world.registry.tags(name), []);
  }
});

test('a missing builder is a clear error naming the input', async () => {
  const emptyPath = join(world.scratch, 'empty-path');
  mkdirSync(emptyPath);
  const expected: Array<[string, RegExp]> = [
    ['docker', /^Input 'builder': docker was chosen, but no Docker engine answers on this agent/],
    ['buildah', /^Input 'builder': buildah was chosen, but it is not on this agent's PATH\.$/],
    ['auto', /^Input 'builder': no image builder on this agent: install Docker \(with a running engine\) or buildah\.$/],
  ];
  for (const [builder, message] of expected) {
    const task = await world.runTask({ ...world.builtinInputs('docker', 'e2e/no-builder', 'x'), builder }, { env: { PATH: emptyPath } });
    assert.equal(task.result, 'Failed', builder);
    assert.match(task.message ?? '', message);
  }
  assert.deepEqual(await world.registry.tags('e2e/no-builder'), []);
});
