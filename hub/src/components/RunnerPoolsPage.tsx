// The Runner pools page: loads through a RunnerPoolService, refreshes on its own, and says what to do when there is nothing.
import * as React from 'react';
import { Header, TitleSize } from 'azure-devops-ui/Header.js';
import { MessageCard, MessageCardSeverity } from 'azure-devops-ui/MessageCard.js';
import { Page } from 'azure-devops-ui/Page.js';
import { Spinner, SpinnerSize } from 'azure-devops-ui/Spinner.js';
import { TextField } from 'azure-devops-ui/TextField.js';
import { buildPoolViews, withJobRequests, type HubJobRequest, type PoolView } from '../../../src/core/index.js';
import { describeLoadError, type RunnerPoolService } from '../services/RunnerPoolService.js';
import { PoolCard } from './PoolCard.js';

export interface RunnerPoolsPageProps {
  service: RunnerPoolService;
  /** Milliseconds between refreshes; 0 turns refreshing off. */
  refreshMs?: number;
  /** For links to the pools' settings pages. */
  organizationUrl?: string;
  clock?: () => Date;
  /** Called once the first load has settled (rendered data or an error), e.g. to tell the host the page is ready. */
  onFirstLoad?: (succeeded: boolean) => void;
}

type LoadState =
  | { phase: 'loading' }
  | { phase: 'failed'; error: unknown }
  | { phase: 'loaded'; views: PoolView[]; at: Date; refreshError?: unknown; queueErrors: Record<string, unknown> };

export function RunnerPoolsPage(props: RunnerPoolsPageProps): React.JSX.Element {
  const { service, refreshMs = 15_000, organizationUrl, clock = () => new Date(), onFirstLoad } = props;
  const [state, setState] = React.useState<LoadState>({ phase: 'loading' });
  const [filter, setFilter] = React.useState('');
  const firstLoad = React.useRef(onFirstLoad);
  const clockRef = React.useRef(clock);
  clockRef.current = clock;
  /** The previous load's job requests: a refresh shows its queues from them until its own arrive, rather than "…" again. */
  const knownQueues = React.useRef<Record<string, HubJobRequest[]>>({});
  /** Bumped by each load that renders, so the queues of a load already replaced are ignored. */
  const rendered = React.useRef(0);

  const load = React.useCallback(async () => {
    try {
      const data = await service.load();
      const at = clockRef.current();
      const generation = ++rendered.current;
      const known = Object.fromEntries(Object.keys(data.jobRequestsByPool).flatMap((pool) =>
        knownQueues.current[pool] === undefined ? [] : [[pool, knownQueues.current[pool]]]));
      knownQueues.current = known;
      setState({ phase: 'loaded', views: buildPoolViews(data.agents, known, data.snapshots, at), at, queueErrors: {} });
      firstLoad.current?.(true);
      // Each pool's queue fills when its job requests arrive; a failed read shows in its queued counter only.
      for (const [pool, requests] of Object.entries(data.jobRequestsByPool)) {
        requests.then((jobs) => {
          if (generation !== rendered.current) return;
          knownQueues.current = { ...knownQueues.current, [pool]: jobs };
          setState((previous) => (previous.phase === 'loaded' ? { ...previous, views: withJobRequests(previous.views, data.agents, pool, jobs) } : previous));
        }, (error: unknown) => {
          if (generation !== rendered.current) return;
          setState((previous) => (previous.phase === 'loaded' ? { ...previous, queueErrors: { ...previous.queueErrors, [pool]: error } } : previous));
        });
      }
    } catch (error) {
      // After a good load, keep showing it and say the refresh failed; before, the error is the page.
      setState((previous) => (previous.phase === 'loaded' ? { ...previous, refreshError: error } : { phase: 'failed', error }));
      firstLoad.current?.(false);
    }
    firstLoad.current = undefined;
  }, [service]);

  React.useEffect(() => {
    void load();
    if (refreshMs <= 0) return undefined;
    const timer = setInterval(() => void load(), refreshMs);
    return () => clearInterval(timer);
  }, [load, refreshMs]);

  const retry = () => {
    setState({ phase: 'loading' });
    void load();
  };

  return (
    <Page className="runner-pools-page flex-grow">
      <Header
        title="Runner pools"
        titleSize={TitleSize.Large}
        description="Every runner pod on Kubernetes and its Azure Pipelines agent."
        commandBarItems={[{ id: 'refresh', text: 'Refresh', iconProps: { iconName: 'Refresh' }, important: true, onActivate: () => void load() }]}
      />
      <div className="page-content page-content-top flex-column rhythm-vertical-16">{body()}</div>
    </Page>
  );

  function body(): React.JSX.Element {
    if (state.phase === 'loading') {
      return <div className="hub-state hub-loading"><Spinner size={SpinnerSize.large} label="Loading runner pools…" /></div>;
    }
    if (state.phase === 'failed') {
      const { title, detail } = describeLoadError(state.error);
      return (
        <MessageCard className="hub-state hub-error" severity={MessageCardSeverity.Error} role="alert"
          buttonProps={[{ text: 'Try again', onClick: retry }]}>
          <div className="flex-column">
            <span className="hub-error-title font-weight-semibold">{title}</span>
            <span className="hub-error-detail">{detail}</span>
          </div>
        </MessageCard>
      );
    }
    if (state.views.length === 0) {
      return (
        <div className="hub-state hub-empty flex-column flex-center">
          <div className="title-m">No runner pool found</div>
          <div className="secondary-text">
            Run the DeployRunnerPool task in a pipeline to deploy one. Its pods register here as agents, and the task publishes
            what the cluster sees.
          </div>
        </div>
      );
    }
    const refreshError = state.refreshError === undefined ? undefined : describeLoadError(state.refreshError);
    return (
      <>
        {refreshError && (
          <MessageCard className="hub-refresh-error" severity={MessageCardSeverity.Warning}>
            {`${refreshError.title}. Showing data from ${state.at.toLocaleTimeString()}. ${refreshError.detail}`}
          </MessageCard>
        )}
        <div className="hub-toolbar flex-row flex-center">
          <TextField className="hub-filter" value={filter} onChange={(_event: unknown, value: string) => setFilter(value)}
            placeholder="Filter by pod, state, node, image or job" prefixIconProps={{ iconName: 'Filter' }} ariaLabel="Filter slots" />
          <span className="hub-updated secondary-text margin-left-16">Updated {state.at.toLocaleTimeString()}</span>
        </div>
        {state.views.map((view) => <PoolCard key={view.key} view={view} queueError={state.queueErrors[view.poolName]} filter={filter} now={state.at} organizationUrl={organizationUrl} />)}
      </>
    );
  }
}
