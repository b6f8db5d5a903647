// Where an agent gets its tokens, against both kinds of server the emulator plays: Azure DevOps Services, whose token
// endpoint is on a host of its own, and an on-premises server, which issues tokens on the organization's host. The
// grant the autoscaler computes and the agent double's own configuration must both get a token from each.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { VssClient } from '../../emulator/agent/client.js';
import { configure } from '../../emulator/agent/configure.js';
import { parseArgs, publicKeyOf, type OAuthData } from '../../emulator/agent/settings.js';
import type { DeploymentType } from '../../emulator/src/locations.js';
import { RestAdoClient } from '../../src/clients/ado-rest.js';
import { agentSettingsFiles, registrationGrant } from '../../src/core/registration.js';
import { DEFAULT_PAT, startEmulator, type TestEmulator } from '../support/emulator.js';

const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;

for (const deploymentType of ['hosted', 'onPremises'] as DeploymentType[]) {
  describe(`an agent's tokens from ${deploymentType === 'hosted' ? 'Azure DevOps Services' : 'an on-premises server'}`, () => {
    let emulator: TestEmulator;
    const scratch = mkdtempSync(join(tmpdir(), 'adr-agent-tokens-'));
    before(async () => {
      emulator = await startEmulator({ deploymentType, pools: ['P'] });
    });
    after(async () => {
      await emulator.stop();
      rmSync(scratch, { recursive: true, force: true });
    });

    /** The token endpoint the agent is told of: another origin than the organization's when hosted, its own on premises. */
    function assertTokenHost(credentials: OAuthData['data']): void {
      assert.equal(credentials.authorizationUrl, emulator.authorizationUrl);
      const organization = new URL(emulator.orgUrl).origin;
      if (deploymentType === 'hosted') {
        assert.equal(credentials.oauthEndpointUrl, emulator.authorizationUrl);
        assert.notEqual(new URL(credentials.oauthEndpointUrl).origin, organization);
      } else {
        assert.equal(credentials.oauthEndpointUrl, `${emulator.orgUrl}/_apis/oauth2/token`);
      }
    }

    it('serves the agent token endpoint on the token host only when hosted', async () => {
      const onOrganizationHost = await fetch(`${emulator.orgUrl}/_apis/oauth2/token`, { method: 'POST' });
      assert.equal(onOrganizationHost.status, deploymentType === 'hosted' ? 404 : 400);
      const connection = await fetch(`${emulator.orgUrl}/_apis/connectionData`, { headers: { authorization: `Basic ${Buffer.from(`:${DEFAULT_PAT.token}`).toString('base64')}` } });
      assert.equal((await connection.json() as { deploymentType: string }).deploymentType, deploymentType);
    });

    it('the grant the autoscaler computes gets the agent a token', async () => {
      const ado = new RestAdoClient({ organizationUrl: emulator.orgUrl, token: DEFAULT_PAT.token, sleep: async () => {}, log: () => {} });
      const pool = (await ado.findPool('P'))!;
      const agent = await ado.registerAgent(pool.id, { name: 'granted', publicKey: publicKeyOf(key), systemCapabilities: {} });
      const grant = registrationGrant(emulator.orgUrl, pool, agent, await ado.deploymentType());
      const credentials = (JSON.parse(agentSettingsFiles(grant, '/azp/_work')['.credentials']) as OAuthData).data;
      assertTokenHost(credentials);
      const client = new VssClient(emulator.orgUrl, { kind: 'oauth', ...credentials, key }, 'test');
      await client.connect();
      const session = await client.send<{ sessionId: string }>('POST', '134e239e-2df3-4794-a6f6-24f1f19ec8dc', { routeValues: { poolId: pool.id }, body: { ownerName: 'x', agent: { id: agent.id } } });
      assert.match(session?.sessionId ?? '', /^[0-9a-f-]{36}$/);
    });

    it('the agent double configures itself as the agent does, and gets a token', async () => {
      const args = parseArgs(['configure', '--unattended', '--url', emulator.orgUrl, '--auth', 'pat', '--token', DEFAULT_PAT.token, '--pool', 'P', '--agent', 'double'], {});
      // configure tests the agent's connection with its new OAuth credential before it saves it.
      await configure(args, scratch, {}, () => {});
      assertTokenHost((JSON.parse(readFileSync(join(scratch, '.credentials'), 'utf8')) as OAuthData).data);
    });
  });
}
