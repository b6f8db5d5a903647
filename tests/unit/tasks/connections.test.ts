// Broken service connections and credentials in the wrong place, black box: each fails before any call, naming the
// input and what is wrong, and no credential or line of what the connection holds reaches the output.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ensureExtension } from '../../../scripts/build.mjs';
import { endpointEnv, kubeconfigEndpoint, kubernetesConnectionId, runBundledTask, type TaskRun } from '../../support/run-task.js';

const token = 'kubeconfig-token-7f3a9c1e5d';
const keyLine = 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7';
const b64 = (text: string) => Buffer.from(text).toString('base64');

/** A kubeconfig of one cluster, context and user; `user` and `cluster` replace their fields. */
function kubeconfig(options: { server?: string; user?: Record<string, string>; cluster?: Record<string, string>; currentContext?: string | null } = {}): string {
  const user = options.user ?? { token };
  const cluster = { server: options.server ?? 'https://127.0.0.1:9', ...options.cluster };
  const fields = (record: Record<string, string>) => Object.entries(record).map(([k, v]) => `    ${k}: ${JSON.stringify(v)}`).join('\n');
  return [
    'apiVersion: v1', 'kind: Config',
    'clusters:', '- name: c', '  cluster:', fields(cluster),
    'users:', '- name: u', '  user:', fields(user),
    'contexts:', '- name: ctx', '  context:', '    cluster: c', '    user: u',
    ...(options.currentContext === null ? [] : [`current-context: ${options.currentContext ?? 'ctx'}`]),
  ].join('\n');
}

const pemOf = (kind: string, body: string) => b64(`-----BEGIN ${kind}-----\n${body}\n-----END ${kind}-----\n`);

/** A kubeconfig whose user has an oidc auth-provider with `config` (an expired id-token makes the client refresh it). */
const oidcKubeconfig = (config: Record<string, string>) => kubeconfig().replace(`    token: ${JSON.stringify(token)}`, `    auth-provider:\n      name: oidc\n      config: ${JSON.stringify(config)}`);
const expiredIdToken = ['{"alg":"none"}', '{"exp":1}'].map((part) => Buffer.from(part).toString('base64url')).join('.') + '.sig';

const broken: Record<string, { endpoint: Record<string, string>; message: RegExp }> = {
  'an oidc user with no issuer (the server a refresh asks)': {
    endpoint: kubeconfigEndpoint(oidcKubeconfig({ 'client-id': 'c', 'id-token': expiredIdToken, 'refresh-token': token })),
    message: /has a user whose oidc auth-provider has no idp-issuer-url that is an http\(s\) URL\.$/,
  },
  'an oidc user whose expired token the client cannot refresh': {
    endpoint: kubeconfigEndpoint(oidcKubeconfig({ 'client-id': 'c', 'id-token': expiredIdToken, 'refresh-token': token, 'idp-issuer-url': 'https://127.0.0.1:9' })),
    message: /has a user whose credentials the Kubernetes client cannot get: its oidc auth-provider failed \(ERR_INVALID_ARG_TYPE\)\.$/,
  },
  'YAML that does not parse (around a token)': {
    endpoint: kubeconfigEndpoint(`${kubeconfig()}\nusers: [\n  token: ${token}\n  : :`),
    message: /holds a kubeconfig that is not valid YAML \(line \d+, column \d+\)\.$/,
  },
  'text that is no kubeconfig': { endpoint: kubeconfigEndpoint(`just ${token}`), message: /holds a kubeconfig that is not a YAML mapping/ },
  'no current context': { endpoint: kubeconfigEndpoint(kubeconfig({ currentContext: null })), message: /holds a kubeconfig with no current context/ },
  'a server that is not a URL': { endpoint: kubeconfigEndpoint(kubeconfig({ server: 'not a url' })), message: /has a cluster whose server is not an http\(s\) URL\.$/ },
  'a token with CRLF': { endpoint: kubeconfigEndpoint(kubeconfig({ user: { token: `${token}\r\n` } })), message: /has a user whose token holds a line break/ },
  'a client key that is not base64': {
    endpoint: kubeconfigEndpoint(kubeconfig({ user: { 'client-certificate-data': pemOf('CERTIFICATE', 'x'), 'client-key-data': `${keyLine}!` } })),
    message: /has a user whose client-key-data is not base64\.$/,
  },
  'a client certificate TLS cannot load': {
    endpoint: kubeconfigEndpoint(kubeconfig({ user: { 'client-certificate-data': pemOf('CERTIFICATE', 'bm90IGEgY2VydA=='), 'client-key-data': pemOf('PRIVATE KEY', keyLine) } })),
    message: /has a client certificate, client key or certificate authority that TLS cannot use \(.+\)\.$/,
  },
  'authorization that is not JSON': {
    endpoint: { ...kubeconfigEndpoint('unused'), [`ENDPOINT_AUTH_${kubernetesConnectionId}`]: `{"scheme":"Kubeconfig","parameters":{"kubeconfig":"token: ${token}"` },
    message: /holds authorization data that is not valid JSON\.$/,
  },
  'a service account token that is not base64': {
    endpoint: endpointEnv(kubernetesConnectionId, { url: 'https://127.0.0.1:9', scheme: 'Token', parameters: { apiToken: `${token}!` }, data: { authorizationType: 'ServiceAccount' } }),
    message: /has a service account token that is not base64\.$/,
  },
};

/** No credential, and no line of the connection's kubeconfig, anywhere in what the task printed. */
function assertNothingQuoted(run: TaskRun, endpoint: Record<string, string>): void {
  const printed = run.stdout.split('\n').filter((line) => !line.startsWith('##vso[task.setsecret]')).join('\n') + run.stderr;
  for (const secret of [token, keyLine, 'pw-in-url']) assert.ok(!printed.includes(secret), `printed ${secret}`);
  const auth = endpoint[`ENDPOINT_AUTH_${kubernetesConnectionId}`] ?? '';
  assert.ok(auth === '' || !printed.includes(auth), 'printed the authorization');
}

describe('service connections and credentials', () => {
  before(() => ensureExtension());

  for (const task of ['DeployRunnerPool', 'ScaleRunnerPool']) {
    const inputs = {
      kubernetesServiceConnection: kubernetesConnectionId, poolName: 'Linux', runnerName: 'linux', azureDevOpsUrl: 'https://dev.azure.com/contoso',
      image: 'registry.example.com/runner:1', personalAccessToken: 'pat-value',
    };
    for (const [what, { endpoint, message }] of Object.entries(broken)) {
      it(`${task}: a connection with ${what} fails naming the input, quoting nothing it holds`, async () => {
        const run = await runBundledTask(task, inputs, endpoint);
        assert.equal(run.result, 'Failed');
        assert.ok((run.message ?? '').startsWith(`Input 'kubernetesServiceConnection': the service connection '${kubernetesConnectionId}' `), run.message);
        assert.match(run.message ?? '', message);
        assertNothingQuoted(run, endpoint);
      });
    }

    it(`${task}: inCluster outside a pod says so, naming connectionType`, async () => {
      const run = await runBundledTask(task, { ...inputs, connectionType: 'inCluster' });
      assert.match(run.message ?? '', /^Input 'connectionType': inCluster needs the task to run in a Kubernetes pod with a service account token, but KUBERNETES_SERVICE_HOST is not set\.$/);
    });

    it(`${task}: an azureDevOpsUrl with a password is refused, and the password is printed nowhere`, async () => {
      const run = await runBundledTask(task, { ...inputs, azureDevOpsUrl: 'https://user:pw-in-url@dev.azure.com/contoso' });
      assert.match(run.message ?? '', /Input 'azureDevOpsUrl': must not hold a user name or password/);
      assertNothingQuoted(run, {});
    });

    it(`${task}: a PAT with a line break is named, and each of its lines masked`, async () => {
      const run = await runBundledTask(task, { ...inputs, personalAccessToken: 'pat-line-one\npat-line-two' });
      assert.match(run.message ?? '', /Input 'personalAccessToken': must be one line/);
      for (const line of ['pat-line-one', 'pat-line-two']) assert.match(run.stdout, new RegExp(`^##vso\\[task\\.setsecret\\]${line}$`, 'm'));
    });
  }

  it('the harness names a connection\'s variables as the agent does: by the lower-case GUID, keys upper-cased', () => {
    assert.deepEqual(endpointEnv('0f1e2d3c-4b5a-6978-8a9b-acbdcedf0011', { url: 'https://x', scheme: 'Token', parameters: { apiToken: 't' }, data: { 'cluster.Context': 'c' } }), {
      'ENDPOINT_URL_0f1e2d3c-4b5a-6978-8a9b-acbdcedf0011': 'https://x',
      'ENDPOINT_AUTH_0f1e2d3c-4b5a-6978-8a9b-acbdcedf0011': '{"scheme":"Token","parameters":{"apiToken":"t"}}',
      'ENDPOINT_AUTH_SCHEME_0f1e2d3c-4b5a-6978-8a9b-acbdcedf0011': 'Token',
      'ENDPOINT_AUTH_PARAMETER_0f1e2d3c-4b5a-6978-8a9b-acbdcedf0011_APITOKEN': 't',
      'ENDPOINT_DATA_0f1e2d3c-4b5a-6978-8a9b-acbdcedf0011': '{"cluster.Context":"c"}',
      'ENDPOINT_DATA_0f1e2d3c-4b5a-6978-8a9b-acbdcedf0011_CLUSTER_CONTEXT': 'c',
    });
    assert.throws(() => endpointEnv('K8S', { scheme: 'Token', parameters: {} }), /by their GUID, in lower case/);
  });

  it('every credential of a kubeconfig connection is masked as soon as it is read', async () => {
    const endpoint = kubeconfigEndpoint(kubeconfig({ user: { token, password: 'kube-password-1', 'client-key-data': pemOf('PRIVATE KEY', keyLine) } }));
    const run = await runBundledTask('ScaleRunnerPool', { kubernetesServiceConnection: kubernetesConnectionId, runnerName: 'linux', mode: 'fixed', replicas: '1', removeStaleRegistrations: 'false' }, endpoint);
    const masked = [...run.stdout.matchAll(/^##vso\[task\.setsecret\](.*)$/gm)].map((m) => m[1]);
    for (const secret of [token, 'kube-password-1', keyLine, pemOf('PRIVATE KEY', keyLine)]) assert.ok(masked.includes(secret), secret);
    assert.equal(run.result, 'Failed');
  });
});
