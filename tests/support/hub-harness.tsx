// What component tests render, bundled together (React, azure-devops-ui and its CSS imports) by tests/support/hub-dom.ts.
import * as React from 'react';
import * as ReactDOM from 'react-dom';

export { React, ReactDOM };
export { RunnerPoolsPage } from '../../hub/src/components/RunnerPoolsPage.js';
export { PoolCard } from '../../hub/src/components/PoolCard.js';
export { LocalRunnerPoolService } from '../../hub/src/services/LocalRunnerPoolService.js';
export { RunnerPoolError } from '../../hub/src/services/RunnerPoolService.js';
