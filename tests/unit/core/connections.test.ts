// Service connections: every credential found for masking, and unusable ones named without quoting them.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { endpointSecrets, readEndpoint } from '../../../src/core/connections.js';
import { kubeconfigFromEndpoint } from '../../../src/core/kubeconfig.js';
import { MemoryHost } from '../../support/memory-host.js';

const b64 = (text: string) => Buffer.from(text).toString('base64');
const kubeconfigEndpoint = (kubeconfig: string) => ({ scheme: 'Kubeconfig', parameters: { kubeconfig }, data: {} });

describe('endpointSecrets', () => {
  it('finds every credential of a kubeconfig, each line of a decoded key on its own', () => {
    const key = b64('-----BEGIN PRIVATE KEY-----\nline-one\nline-two\n-----END PRIVATE KEY-----\n');
    const text = `users:\n- name: a\n  user:\n    token: "tok-a"\n- name: b\n  user:\n    password: pw-b\n    client-key-data: ${key}\n    auth-provider:\n      config:\n        refresh-token: rt-b\n`;
    assert.deepEqual(endpointSecrets(kubeconfigEndpoint(text)).sort(), ['line-one', 'line-two', key, 'pw-b', 'rt-b', 'tok-a'].sort());
  });

  it('still finds the token of a kubeconfig that does not parse, and those of JSON ones', () => {
    assert.deepEqual(endpointSecrets(kubeconfigEndpoint('users: [\n  token: tok-broken\n  : :')), ['tok-broken']);
    assert.deepEqual(endpointSecrets(kubeconfigEndpoint('{"users":[{"name":"u","user":{"token":"tok-json"}}]}')), ['tok-json']);
  });

  it('finds a service account token (and what it decodes to), a registry password and an ACR key', () => {
    assert.deepEqual(endpointSecrets({ scheme: 'Token', parameters: { apiToken: b64('sa-token'), serviceAccountCertificate: 'cert' }, data: {} }), [b64('sa-token'), 'sa-token']);
    assert.deepEqual(endpointSecrets({ scheme: 'UsernamePassword', parameters: { registry: 'r', username: 'u', Password: 'reg-pw' }, data: {} }), ['reg-pw']);
    assert.deepEqual(endpointSecrets({ scheme: 'ServicePrincipal', parameters: { loginServer: 'x', serviceprincipalid: 'id', serviceprincipalkey: 'sp-key' }, data: {} }), ['sp-key']);
  });

  it('are masked by the host as soon as the connection is read', () => {
    const host = new MemoryHost({}, { reg: { scheme: 'UsernamePassword', parameters: { password: 'reg-pw' }, data: {} } });
    readEndpoint(host, 'dockerRegistryServiceConnection', 'reg');
    assert.deepEqual(host.secrets, ['reg-pw']);
    assert.throws(() => readEndpoint(host, 'dockerRegistryServiceConnection', 'gone'),
      /^UnusableInput: Input 'dockerRegistryServiceConnection': the service connection 'gone' was not found or is not authorized for this pipeline\.$/);
  });
});

describe('kubeconfigFromEndpoint', () => {
  const valid = 'clusters:\n- name: c\n  cluster:\n    server: https://k.example.com\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n- name: other\n  context: {cluster: c}\nusers:\n- name: u\n  user: {token: t}\ncurrent-context: x\n';

  it('selects the connection\'s context and honours acceptUntrustedCerts', () => {
    const { text } = kubeconfigFromEndpoint('k', { ...kubeconfigEndpoint(valid), data: { clusterContext: 'other', acceptUntrustedCerts: 'true' } });
    assert.match(text, /current-context: other/);
    assert.match(text, /insecure-skip-tls-verify: true/);
  });

  it('names every problem of the selected context without quoting a value', () => {
    const bad = valid.replace('https://k.example.com', 'ftp://secret@k').replace('{token: t}', '{token: "a b", client-key-data: "%%"}');
    assert.throws(() => kubeconfigFromEndpoint('k', kubeconfigEndpoint(bad)), (error: Error) => {
      assert.equal(error.message, "Input 'kubernetesServiceConnection': the service connection 'k' has a cluster whose server is not an http(s) URL; " +
        'has a user whose token holds a line break, a space or another control character; has a user whose client-key-data is not base64.');
      return true;
    });
    assert.throws(() => kubeconfigFromEndpoint('k', { ...kubeconfigEndpoint(valid), data: { clusterContext: 'z' } }), /has no context 'z' in its kubeconfig\.$/);
  });

  it('refuses an oidc user without an issuer URL, as kubectl does, before the client fails naming no input', () => {
    const oidc = (config: string) => kubeconfigEndpoint(valid.replace('{token: t}', `{auth-provider: {name: oidc, config: {client-id: c, refresh-token: r${config}}}}`));
    for (const issuer of ['', ', idp-issuer-url: ""', ', idp-issuer-url: issuer.example.com']) {
      assert.throws(() => kubeconfigFromEndpoint('k', oidc(issuer)),
        /^UnusableInput: Input 'kubernetesServiceConnection': the service connection 'k' has a user whose oidc auth-provider has no idp-issuer-url that is an http\(s\) URL\.$/);
    }
    assert.doesNotThrow(() => kubeconfigFromEndpoint('k', oidc(', idp-issuer-url: https://login.example.com/tenant')));
  });
});
