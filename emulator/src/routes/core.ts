// Location and identity routes: connectionData, area discovery and resource areas, the agent OAuth token endpoint, the
// service-principal token endpoint.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { newAccessToken, verifyClientAssertion } from '../auth.js';
import { queryValue, reply, sendJson, VssError, type Ctx } from '../http.js';
import { apiResourceLocations, connectionData, resourceAreas, type DeploymentType } from '../locations.js';
import type { Route } from '../router.js';
import type { Store } from '../store.js';
import type { AgentPackage } from './distributedtask.js';

const TOKEN_LIFETIME_SECONDS = 3600;

function identityOf(ctx: Ctx, store: Store) {
  const principal = ctx.principal;
  switch (principal?.kind) {
    case 'pat':
      return { id: `00000000-0000-0000-0000-${Buffer.from(principal.user).toString('hex').padEnd(12, '0').slice(0, 12)}`, descriptor: `Microsoft.IdentityModel.Claims.ClaimsIdentity;${principal.user}`, displayName: principal.user };
    case 'agent': {
      const agent = store.agents.get(principal.agentId);
      return { id: agent?.clientId ?? '', descriptor: `Microsoft.TeamFoundation.ServiceIdentity;agent:${principal.agentId}`, displayName: `Agent ${agent?.name ?? ''}` };
    }
    case 'sp':
      return { id: principal.clientId, descriptor: `Microsoft.VisualStudio.Services.Claims.AadServicePrincipal;${principal.clientId}`, displayName: principal.clientId };
    default:
      return { id: '00000000-0000-0000-0000-000000000000', descriptor: 'Microsoft.TeamFoundation.ServiceIdentity;build', displayName: 'Project Collection Build Service' };
  }
}

function form(ctx: Ctx): URLSearchParams {
  return new URLSearchParams(ctx.body.toString('utf8'));
}

function oauthError(ctx: Ctx, status: number, error: string, description: string): void {
  sendJson(ctx.res, status, { error, error_description: description });
}

export function coreRoutes(instanceId: string, deploymentType: DeploymentType, agentPackage: () => AgentPackage | undefined): Route[] {
  return [
    {
      method: 'GET', pattern: '/{org}/_apis/connectionData', access: { scopes: [], agent: true, job: true }, version: undefined,
      handle(ctx, store) {
        reply(ctx, 200, connectionData(ctx.orgUrl, instanceId, deploymentType, identityOf(ctx, store), queryValue(ctx.query, 'connectOptions') === '1'));
      },
    },
    {
      // Every resource location at once (the Go client; the .NET client when connectionData lists none).
      method: 'OPTIONS', pattern: '/{org}/_apis', access: { anonymous: true }, version: 'none',
      handle: (ctx) => reply(ctx, 200, apiResourceLocations()),
    },
    {
      // One area's locations: what the Node client asks before its first call to an area (VsoClient.beginGetAreaLocations).
      method: 'OPTIONS', pattern: '/{org}/_apis/{area}', access: { anonymous: true }, version: 'none',
      handle: (ctx) => reply(ctx, 200, apiResourceLocations(ctx.params.area)),
    },
    {
      // Microsoft's docs (extend/develop/work-with-urls.md): resource areas are looked up without credentials.
      method: 'GET', pattern: '/{org}/_apis/ResourceAreas', access: { anonymous: true }, version: undefined,
      handle: (ctx) => reply(ctx, 200, resourceAreas(ctx.orgUrl)),
    },
    {
      method: 'GET', pattern: '/{org}/_apis/ResourceAreas/{areaId}', access: { anonymous: true }, version: undefined,
      handle(ctx) {
        const area = resourceAreas(ctx.orgUrl).find((candidate) => candidate.id === ctx.params.areaId.toLowerCase());
        if (!area) throw new VssError(404, 'ResourceAreaNotFoundException', `The resource area ${ctx.params.areaId} does not exist.`, 'Microsoft.VisualStudio.Services.WebApi');
        reply(ctx, 200, area);
      },
    },
    // An on-premises server issues agent tokens on its own host; a hosted one on its token host (agentTokenRoute).
    ...(deploymentType === 'onPremises' ? [agentTokenRoute('/{org}/_apis/oauth2/token')] : []),
    {
      // Stand-in for Entra ID's token endpoint for `--auth sp` (the real agent asks login.microsoftonline.com).
      method: 'POST', pattern: '/_entra/{tenantId}/oauth2/v2.0/token', access: { anonymous: true }, version: 'none',
      handle(ctx, store) {
        const params = form(ctx);
        const sp = store.servicePrincipals.get(params.get('client_id') ?? '');
        if (!sp || sp.tenantId !== ctx.params.tenantId || sp.secret !== params.get('client_secret')) {
          return oauthError(ctx, 401, 'invalid_client', 'AADSTS7000215: Invalid client secret provided.');
        }
        const token = newAccessToken();
        store.tokens.set(token, { principal: { kind: 'sp', clientId: sp.clientId }, expires: Date.now() + TOKEN_LIFETIME_SECONDS * 1000 });
        sendJson(ctx.res, 200, { token_type: 'Bearer', expires_in: TOKEN_LIFETIME_SECONDS, access_token: token });
      },
    },
    {
      method: 'GET', pattern: '/_download/agent/{version}/{filename}', access: { anonymous: true }, version: 'none',
      async handle(ctx) {
        const pkg = agentPackage();
        if (!pkg || pkg.filename !== ctx.params.filename || pkg.version !== ctx.params.version) throw new VssError(404, 'FileNotFoundException', 'No such package.', 'System.IO');
        const { size } = await stat(pkg.path);
        ctx.res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': size });
        createReadStream(pkg.path).pipe(ctx.res);
      },
    },
  ];
}

/** The token endpoint named in the agents' authorizationUrl: client-credentials grant with an RS256 client assertion. */
export function agentTokenRoute(pattern: string): Route {
  return {
    method: 'POST', pattern, access: { anonymous: true }, version: 'none',
    handle(ctx, store) {
      const params = form(ctx);
      if (params.get('grant_type') !== 'client_credentials') return oauthError(ctx, 400, 'unsupported_grant_type', 'Only client_credentials is supported.');
      if (params.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') {
        return oauthError(ctx, 400, 'invalid_request', 'A jwt-bearer client assertion is required.');
      }
      try {
        const agent = verifyClientAssertion(params.get('client_assertion') ?? '', store.agents.values(), store.authorizationUrl);
        const token = newAccessToken();
        store.tokens.set(token, { principal: { kind: 'agent', agentId: agent.id, poolId: agent.poolId }, expires: Date.now() + TOKEN_LIFETIME_SECONDS * 1000 });
        sendJson(ctx.res, 200, { access_token: token, token_type: 'jwt-bearer', expires_in: TOKEN_LIFETIME_SECONDS, scope: '/' });
      } catch (error) {
        oauthError(ctx, 401, 'invalid_client', (error as Error).message);
      }
    },
  };
}
