// azure-devops-extension-api expects a browser: its fetch polyfill (whatwg-fetch) reads `self` when loaded. Node has
// fetch and Headers already, so naming the global scope `self` is all it needs. Import this before the client packages.
(globalThis as { self?: unknown }).self ??= globalThis;
