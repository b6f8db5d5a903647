// Benchmark: issue #26's organization in simulated time — 50 in-cluster autoscalers (the real flow) for 10 pools of
// one organization under one PAT, against the emulator with the service's consumption limit and a TSTU cost model
// (emulator/src/rate-limit.ts): an idle hour, a burst of 1 000 jobs, a 429 storm. No cluster: the in-memory one.
// ORG_IDLE_MINUTES shortens the idle hour.
import { organization, orgFigures, simulateOrganization } from '../tests/support/org-sim.js';

const idleMinutes = Number(process.env.ORG_IDLE_MINUTES ?? organization.idleMinutes);
const run = await simulateOrganization({ ...organization, idleMinutes });
for (const [name, value] of orgFigures(run)) console.log(`scale-org-${name}: ${Number.isInteger(value) ? value : value.toFixed(1)}`);
