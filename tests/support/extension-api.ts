// Microsoft's browser clients (azure-devops-extension-api) pointed at the emulator from Node, as the hub's page and its
// host use them: the REST clients with the page's Bearer token, and the host's extension data manager.
import './extension-api-globals.js';
import type { IExtensionDataManager, IVssRestClientOptions } from 'azure-devops-extension-api';
import { ExtensionManagementRestClient } from 'azure-devops-extension-api/ExtensionManagement';
import { extension } from './hub-fixture.js';

/** What `getClient` hands a client inside Azure DevOps: the area's root URL and the user's token. */
export function clientOptions(orgUrl: string, token: string): IVssRestClientOptions {
  return { rootPath: `${orgUrl}/`, authTokenProvider: { getAuthorizationHeader: async () => `Bearer ${token}` } };
}

/**
 * The host's extension data manager for this extension, over ExtensionManagementRestClient's document calls (an
 * inference: the host's implementation is not published; these are the client's calls for the same documents).
 */
export function extensionDataManager(orgUrl: string, token: string): IExtensionDataManager {
  const client = new ExtensionManagementRestClient(clientOptions(orgUrl, token));
  const scope = (options?: { scopeType?: string; scopeValue?: string }) => [options?.scopeType ?? 'Default', options?.scopeValue ?? 'Current'] as const;
  const manager: Partial<IExtensionDataManager> = {
    getDocuments: (collection, options) => client.getDocumentsByName(extension.publisher, extension.id, ...scope(options), collection),
    setDocument: (collection, document, options) => client.setDocumentByName(document, extension.publisher, extension.id, ...scope(options), collection),
  };
  return manager as IExtensionDataManager;
}
