// Benchmark: the bundled BuildRunnerImage task building and pushing the runner image, with docker and with buildah.
// Cold = no layer cache for that builder: a new world's emulator port changes AGENT_PACKAGE_URL, so docker reruns every
// step after the COPY, and buildah starts from an empty private storage holding only the Debian base (imported before
// timing). Cached = the same build again (it still logs in and pushes). Each run includes login, build and push.
import { startBuildTaskWorld } from '../tests/support/build-task-world.js';

const PORT = 5057;

async function main() {
  const world = await startBuildTaskWorld(PORT);
  try {
    for (const builder of ['docker', 'buildah'] as const) {
      for (const phase of ['cold', 'cached']) {
        const started = process.hrtime.bigint();
        const run = await world.runTask(world.builtinInputs(builder, `bench/runner-${builder}`, phase));
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        if (run.result !== 'Succeeded') throw new Error(`${builder} ${phase}: ${run.message}\n${run.stdout.slice(-2000)}`);
        console.log(`task-build-${builder}-${phase}-s: ${seconds.toFixed(1)}`);
      }
    }
  } finally {
    await world.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
