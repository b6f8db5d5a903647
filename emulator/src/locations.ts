// Resource locations the emulator publishes (connectionData, area discovery, resource areas), so clients build URLs from
// route templates and negotiate api-versions as against the service.
import { randomUUID } from 'node:crypto';

export interface ResourceLocation {
  id: string;
  area: string;
  resourceName: string;
  routeTemplate: string;
  /** Highest version released without -preview; undefined = preview only. */
  released?: string;
  resourceVersion: number;
}

/** Resource-area ids (the client resolves an area before its resources). */
export const AREAS: Record<string, string> = {
  distributedtask: 'a85b8835-c1a1-4aac-ae97-1c3d0ba72dbd',
  ExtensionManagement: '6c2b0933-3600-42ae-bf8b-93d4f7e83594',
  pipelines: '2e0bf237-8973-4ec9-a581-9c3d679d1776',
  oauth2: '585028fe-17d8-49e2-9a1b-efb4d8502156',
};

// Ids of pools, agents, sessions, messages and jobrequests are the ones the agent's client asks for (agent-wire-protocol.md §1.2).
export const LOCATIONS = {
  pools: { id: 'a8c47e17-4d56-4a56-92bb-de7ea7dc65be', area: 'distributedtask', resourceName: 'pools', routeTemplate: '_apis/{area}/{resource}/{poolId}', released: '7.1', resourceVersion: 1 },
  agents: { id: 'e298ef32-5878-4cab-993c-043836571f42', area: 'distributedtask', resourceName: 'agents', routeTemplate: '_apis/{area}/pools/{poolId}/{resource}/{agentId}', released: '7.1', resourceVersion: 2 },
  usercapabilities: { id: '30ba3ada-fedf-4da8-bbb5-dacf2f82e176', area: 'distributedtask', resourceName: 'usercapabilities', routeTemplate: '_apis/{area}/pools/{poolId}/agents/{agentId}/{resource}', released: '7.1', resourceVersion: 1 },
  sessions: { id: '134e239e-2df3-4794-a6f6-24f1f19ec8dc', area: 'distributedtask', resourceName: 'sessions', routeTemplate: '_apis/{area}/pools/{poolId}/{resource}/{sessionId}', resourceVersion: 1 },
  messages: { id: 'c3a054f6-7a8a-49c0-944e-3a8e5d7adfd7', area: 'distributedtask', resourceName: 'messages', routeTemplate: '_apis/{area}/pools/{poolId}/{resource}/{messageId}', resourceVersion: 1 },
  jobrequests: { id: 'fc825784-c92a-4299-9221-998a02d1b54f', area: 'distributedtask', resourceName: 'jobrequests', routeTemplate: '_apis/{area}/pools/{poolId}/{resource}/{requestId}', resourceVersion: 1 },
  packages: { id: '8ffcd551-079c-493a-9c02-54346299d144', area: 'distributedtask', resourceName: 'packages', routeTemplate: '_apis/{area}/{resource}/{packageType}/{platform}/{version}', resourceVersion: 2 },
  logs: { id: '46f5667d-263a-4684-91b1-dff7fdcf64e2', area: 'distributedtask', resourceName: 'logs', routeTemplate: '{scopeIdentifier}/_apis/{area}/hubs/{hubName}/plans/{planId}/{resource}/{logId}', resourceVersion: 1 },
  documents: { id: 'bbe06c18-1c8b-4fcd-b9c6-1535aaab8749', area: 'ExtensionManagement', resourceName: 'Documents', routeTemplate: '_apis/{area}/InstalledExtensions/{publisherName}/{extensionName}/Data/Scopes/{scopeType}/{scopeValue}/Collections/{collectionName}/{resource}/{documentId}', resourceVersion: 1 },
  runs: { id: '7859261e-d2e9-4a68-b820-a5d84cc5bb3d', area: 'pipelines', resourceName: 'runs', routeTemplate: '{project}/_apis/{area}/{pipelineId}/{resource}/{runId}', released: '7.1', resourceVersion: 1 },
  // azure-devops-node-api LocationsApi.js: how WebApi finds each area's host before its first call.
  resourceAreas: { id: 'e81700f7-3be2-46de-8624-2eb35882fcaa', area: 'Location', resourceName: 'ResourceAreas', routeTemplate: '_apis/{resource}/{areaId}', resourceVersion: 1 },
} satisfies Record<string, ResourceLocation>;

/** The versions every location is served at. */
const MIN_VERSION = '1.0';
const MAX_VERSION = '7.2';

/** The ApiResourceLocation entries `OPTIONS _apis[/{area}]` answers (VssApiResourceLocation; node client VsoBaseInterfaces). */
export function apiResourceLocations(area?: string): Record<string, unknown>[] {
  return Object.values(LOCATIONS as Record<string, ResourceLocation>)
    .filter((location) => area === undefined || location.area.toLowerCase() === area.toLowerCase())
    .map((location) => ({
      id: location.id, area: location.area, resourceName: location.resourceName, routeTemplate: location.routeTemplate,
      resourceVersion: location.resourceVersion, minVersion: MIN_VERSION, maxVersion: MAX_VERSION, releasedVersion: location.released ?? '0.0',
    }));
}

/** The `_apis/ResourceAreas` entries: every area served at this organisation's URL (ExtensionManagement included, see README). */
export function resourceAreas(orgUrl: string): { id: string; name: string; locationUrl: string }[] {
  return Object.entries(AREAS).map(([name, id]) => ({ id, name, locationUrl: `${orgUrl}/` }));
}

/** What connectionData says the organisation is: Azure DevOps Services, or a server in the customer's network. */
export type DeploymentType = 'hosted' | 'onPremises';

/** The service owner GUID of Azure DevOps Services (not the on-premises one), so clients treat us as hosted. */
const SERVICE_OWNER = '00025394-6065-48ca-87d9-7f5672854ef7';
const LOCATION_SERVICE_ROOT = '951917ac-a960-4999-8464-e3f0aa25b381';

export interface IdentityView {
  id: string;
  descriptor: string;
  displayName: string;
}

/** The `_apis/connectionData` answer: identity, deployment type and every location, all mapped onto this organisation URL. */
export function connectionData(orgUrl: string, instanceId: string, deploymentType: DeploymentType, user: IdentityView, includeServices: boolean): unknown {
  const mapping = (location: string) => [{ accessMappingMoniker: 'PublicAccessMapping', location }];
  const identity = {
    id: user.id,
    descriptor: user.descriptor,
    subjectDescriptor: user.descriptor,
    providerDisplayName: user.displayName,
    isActive: true,
    members: [],
    memberOf: [],
    properties: {},
    resourceVersion: 2,
    metaTypeId: 255,
  };
  const definitions = [
    { serviceType: 'LocationService2', identifier: LOCATION_SERVICE_ROOT, displayName: 'Location', relativeToSetting: 'fullyQualified', locationMappings: mapping(orgUrl), resourceVersion: 0 },
    ...Object.entries(AREAS).map(([area, id]) => ({
      serviceType: 'LocationService2', identifier: id, displayName: area, description: 'Resource Area',
      relativeToSetting: 'fullyQualified', locationMappings: mapping(orgUrl), resourceVersion: 0,
    })),
    ...Object.values(LOCATIONS).map((location: ResourceLocation) => ({
      serviceType: location.area, identifier: location.id, displayName: location.resourceName, description: 'Resource Location',
      relativeToSetting: 'context', relativePath: location.routeTemplate, serviceOwner: SERVICE_OWNER, locationMappings: [],
      resourceVersion: location.resourceVersion, minVersion: MIN_VERSION, maxVersion: MAX_VERSION, releasedVersion: location.released ?? '0.0',
    })),
  ];
  return {
    authenticatedUser: identity,
    authorizedUser: identity,
    instanceId,
    deploymentId: instanceId,
    deploymentType,
    webApplicationRelativeDirectory: new URL(orgUrl).pathname + '/',
    locationServiceData: {
      serviceOwner: SERVICE_OWNER,
      defaultAccessMappingMoniker: 'PublicAccessMapping',
      accessMappings: [{ displayName: 'Public Access Mapping', moniker: 'PublicAccessMapping', accessPoint: new URL(orgUrl).origin, serviceOwner: SERVICE_OWNER, virtualDirectory: new URL(orgUrl).pathname.slice(1) }],
      lastChangeId: 1,
      lastChangeId64: 1,
      clientCacheFresh: true,
      clientCacheTimeToLive: 3600,
      serviceDefinitions: includeServices ? definitions : [],
    },
  };
}

export function newInstanceId(): string {
  return randomUUID();
}
