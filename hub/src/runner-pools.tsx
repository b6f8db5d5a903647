// The hub's entry: handshake with the Azure DevOps host, then render the page over the Azure DevOps data service.
import 'azure-devops-ui/Core/override.css';
import './runner-pools.css';
import * as React from 'react';
import * as ReactDOM from 'react-dom';
import * as SDK from 'azure-devops-extension-sdk';
import type { ILocationService } from 'azure-devops-extension-api';
import { Surface, SurfaceBackground } from 'azure-devops-ui/Surface.js';
import { RunnerPoolsPage } from './components/RunnerPoolsPage.js';
import { AzureDevOpsRunnerPoolService } from './services/AzureDevOpsRunnerPoolService.js';

async function main(root: HTMLElement): Promise<void> {
  if (window.parent === window) {
    // Outside a host frame the handshake would never answer.
    root.textContent = 'Open this page from Azure DevOps: Pipelines → Runner pools.';
    return;
  }
  await SDK.init({ loaded: false, applyTheme: true });
  const location = await SDK.getService<ILocationService>('ms.vss-features.location-service');
  const organizationUrl = (await location.getServiceLocation()).replace(/\/+$/, '');
  ReactDOM.render(
    <Surface background={SurfaceBackground.neutral}>
      <RunnerPoolsPage service={new AzureDevOpsRunnerPoolService()} organizationUrl={organizationUrl} onFirstLoad={() => void SDK.notifyLoadSucceeded()} />
    </Surface>,
    root,
  );
}

void main(document.getElementById('root')!);
