// The core's one public entry: the product's vocabulary, its pure rules and the ports its flows act through.
// Everything outside src/ (the task entries, the hub, the emulator's tests) imports the core from here only.
export * from './model.js';
export * from './inputs.js';
export * from './cluster-target.js';
export * from './deploy-options.js';
export * from './scale-options.js';
export * from './build-options.js';
export * from './demands.js';
export * from './scale-decision.js';
export * from './manifests.js';
export * from './manifest-file.js';
export * from './kubeconfig.js';
export * from './connections.js';
export * from './kube-syntax.js';
export * from './pod-status.js';
export * from './snapshot.js';
export * from './hub-model.js';
export * from './base64.js';
export * from './log-text.js';
export * from './pool-selector.js';
export * from './network-policy.js';
export * from './ports/host.js';
export * from './ports/kube.js';
export * from './ports/ado.js';
export * from './ports/commands.js';
export * from './ports/files.js';
export * from './ports/clock.js';
