// AgentPackages over Azure DevOps REST: one question, no retry. BuildRunnerImage only warns with the answer, so a
// failure is reported and the build goes on rather than waiting through a retry budget.
import type { AgentPackages } from '../core/ports/ado.js';
import { compareVersions } from '../core/demands.js';
import { describeFetchError } from './ado-rest.js';

interface WirePackage {
  version?: { major: number; minor: number; patch: number };
}

const timeoutMs = 10_000;

/** Asks the organization with a token the service takes as a password: a PAT or the job's access token. */
export function agentPackagesClient(organizationUrl: string, token: string): AgentPackages {
  const base = organizationUrl.replace(/\/+$/, '');
  return {
    async newestAgentVersion(platform) {
      // As the agent asks before it updates itself: newest first, without api-version (a GET takes the latest).
      const url = `${base}/_apis/distributedtask/packages/agent?${new URLSearchParams({ platform, $top: '1' })}`;
      let response: Response;
      try {
        response = await fetch(url, {
          headers: { authorization: `Basic ${Buffer.from(`:${token}`).toString('base64')}`, accept: 'application/json' },
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (error) {
        throw new Error(`cannot reach ${base}: ${describeFetchError(error)}`);
      }
      if (!response.ok) throw new Error(`Azure DevOps answered ${response.status}`);
      const packages = ((await response.json()) as { value?: WirePackage[] }).value ?? [];
      const newest = packages.flatMap(({ version }) => (version ? [[version.major, version.minor, version.patch]] : [])).sort(compareVersions).pop();
      return newest?.join('.');
    },
  };
}
