// Reads runner pools inside Azure DevOps with the user's token: the SDK resolves the organisation's URL through the host's
// location service and hands over the host's extension data service; what is read, and how, is in AzureDevOpsReads.ts.
import * as SDK from 'azure-devops-extension-sdk';
import { getClient, type IExtensionDataService } from 'azure-devops-extension-api';
import { loadRunnerPools, RunnerTaskAgentClient } from './AzureDevOpsReads.js';
import type { RunnerPoolData, RunnerPoolService } from './RunnerPoolService.js';

export class AzureDevOpsRunnerPoolService implements RunnerPoolService {
  private readonly client = getClient(RunnerTaskAgentClient);

  load(): Promise<RunnerPoolData> {
    return loadRunnerPools(this.client, async () => {
      const dataService = await SDK.getService<IExtensionDataService>('ms.vss-features.extension-data-service');
      return dataService.getExtensionDataManager(SDK.getExtensionContext().id, await SDK.getAccessToken());
    });
  }
}
