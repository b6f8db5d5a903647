// Pipelines runs: queueing a run of an emulated pipeline queues its job; the run's state follows the job.
import { parseJsonBody, queryValue, reply, VssError, type Ctx } from '../http.js';
import type { Route } from '../router.js';
import type { Store } from '../store.js';
import type { Pipeline, Run } from '../types.js';
import { RunResult, RunState, wireDate, wireEnum } from '../wire.js';

const NAMESPACE = 'Microsoft.Azure.Pipelines.WebApi';
const RUNS = '/{org}/{project}/_apis/pipelines/{pipelineId}/runs';

function pipelineOf(store: Store, ctx: Ctx): Pipeline {
  const project = store.projectByNameOrId(ctx.params.project);
  if (!project) throw new VssError(404, 'ProjectDoesNotExistWithNameException', `The following project does not exist: ${ctx.params.project}.`, 'Microsoft.TeamFoundation.Core.WebApi');
  const pipeline = store.pipelines.get(Number(ctx.params.pipelineId));
  if (!pipeline || pipeline.projectId !== project.id) {
    throw new VssError(404, 'PipelineNotFoundException', `Pipeline with id ${ctx.params.pipelineId} not found.`, NAMESPACE);
  }
  return pipeline;
}

/** A Run as the service writes it: state/result derived from its job. */
export function runJson(store: Store, ctx: Ctx, pipeline: Pipeline, run: Run): Record<string, unknown> {
  const job = run.requestId === undefined ? undefined : store.jobs.get(run.requestId);
  const result = run.failedAtQueue ? 'failed'
    : job?.result === undefined ? undefined
    : job.result === 'succeeded' || job.result === 'succeededWithIssues' ? 'succeeded'
    : job.result === 'canceled' ? 'canceled' : 'failed';
  const state = result !== undefined ? 'completed' : job?.cancelRequested ? 'canceling' : 'inProgress';
  const base = `${ctx.orgUrl}/${pipeline.projectId}/_apis/pipelines/${pipeline.id}`;
  return {
    _links: { self: { href: `${base}/runs/${run.id}` }, web: { href: `${ctx.orgUrl}/${pipeline.projectId}/_build/results?buildId=${run.id}` }, 'pipeline.web': { href: `${ctx.orgUrl}/${pipeline.projectId}/_build/definition?definitionId=${pipeline.id}` }, pipeline: { href: `${base}?revision=${pipeline.revision}` } },
    templateParameters: run.templateParameters,
    variables: run.variables,
    pipeline: { url: `${base}?revision=${pipeline.revision}`, id: pipeline.id, revision: pipeline.revision, name: pipeline.name, folder: pipeline.folder },
    state: wireEnum(RunState, state),
    ...(result ? { result: wireEnum(RunResult, result) } : {}),
    createdDate: wireDate(run.createdDate),
    ...(run.finishedDate ? { finishedDate: wireDate(run.finishedDate) } : {}),
    url: `${base}/runs/${run.id}`,
    resources: { repositories: { self: { repository: { type: 'azureReposGit' }, refName: 'refs/heads/main', version: '0000000000000000000000000000000000000000' } } },
    id: run.id,
    name: run.name,
  };
}

export const pipelineRoutes: Route[] = [
  {
    method: 'POST', pattern: RUNS, access: { scopes: ['vso.build_execute'] }, version: '7.1',
    handle(ctx, store) {
      const pipeline = pipelineOf(store, ctx);
      const body = parseJsonBody<{ templateParameters?: Record<string, string>; variables?: Run['variables']; previewRun?: boolean }>(ctx);
      if (body.previewRun) {
        reply(ctx, 200, { ...runJson(store, ctx, pipeline, { id: -1, pipelineId: pipeline.id, name: '', createdDate: new Date().toISOString(), templateParameters: body.templateParameters ?? {}, variables: {} }), finalYaml: `steps:\n- script: ${JSON.stringify(pipeline.script)}\n` });
        return;
      }
      const id = store.id('run');
      const run: Run = {
        id, pipelineId: pipeline.id, name: `${new Date().toISOString().slice(0, 10).replace(/-/g, '')}.${id}`, createdDate: new Date().toISOString(),
        templateParameters: body.templateParameters ?? {}, variables: body.variables ?? {},
      };
      // Template parameters and run variables reach the script as job variables (hence environment variables).
      const env: Record<string, string> = { ...pipeline.env };
      for (const [name, value] of Object.entries(run.templateParameters)) env[`parameters.${name}`] = value;
      for (const [name, variable] of Object.entries(run.variables)) env[name] = variable.value ?? '';
      const pool = store.poolByName(pipeline.pool);
      if (!pool) throw new VssError(400, 'TaskAgentPoolNotFoundException', `Could not find a pool with name ${pipeline.pool}.`);
      const queued = store.queueJob(pool.id, { name: 'Job', demands: pipeline.demands, script: pipeline.script, env },
        { owner: { id, name: run.name }, definition: { id: pipeline.id, name: pipeline.name }, projectId: pipeline.projectId });
      if ('rejected' in queued) {
        run.failedAtQueue = true;
        run.finishedDate = run.createdDate;
      } else {
        run.requestId = queued.requestId;
      }
      store.runs.set(id, run);
      reply(ctx, 200, runJson(store, ctx, pipeline, run));
    },
  },
  {
    method: 'GET', pattern: RUNS, access: { scopes: ['vso.build'] }, version: '7.1',
    handle(ctx, store) {
      const pipeline = pipelineOf(store, ctx);
      const runs = [...store.runs.values()].filter((run) => run.pipelineId === pipeline.id).sort((a, b) => b.id - a.id);
      const top = Number(queryValue(ctx.query, '$top') ?? 10_000);
      reply(ctx, 200, runs.slice(0, top).map((run) => runJson(store, ctx, pipeline, run)));
    },
  },
  {
    method: 'GET', pattern: `${RUNS}/{runId}`, access: { scopes: ['vso.build'] }, version: '7.1',
    handle(ctx, store) {
      const pipeline = pipelineOf(store, ctx);
      const run = store.runs.get(Number(ctx.params.runId));
      if (!run || run.pipelineId !== pipeline.id) throw new VssError(404, 'PipelineRunNotFoundException', `Pipeline run ${ctx.params.runId} not found.`, NAMESPACE);
      reply(ctx, 200, runJson(store, ctx, pipeline, run));
    },
  },
];
