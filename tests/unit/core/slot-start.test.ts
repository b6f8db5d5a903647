// Kubernetes' words about a slot that cannot start, as users see them (src/core/slot-start.ts kubernetesMessage): a
// registry's credentials are masked in whatever form the message carries them; an image reference stays readable.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { kubernetesMessage } from '../../../src/core/slot-start.js';

const digest = `sha256:${'0123456789abcdef'.repeat(4)}`;

describe('kubernetesMessage', () => {
  it('masks user:secret@host without a URL scheme, wherever it stands', () => {
    const cases: Array<[string, string]> = [
      ['Back-off pulling image "bot:s3cret@registry.example/runner:1"', 'Back-off pulling image "***@registry.example/runner:1"'],
      ['bot:s3cret@registry.example:5000/runner', '***@registry.example:5000/runner'],
      ['pull image=bot:s3:cr3t@registry.example/x failed', 'pull image=***@registry.example/x failed'],
      ['login (:token-only@registry.example) refused', 'login (***@registry.example) refused'],
      ['pull "https://bot:s3cret@registry.example/v2/x"', 'pull "https://***@registry.example/v2/x"'],
      // A secret that holds an `@`: masked up to the last one.
      ['bot:s3cret@x@registry.example/runner', '***@registry.example/runner'],
      ['pull "https://bot:s3cret@x@registry.example/v2/x"', 'pull "https://***@registry.example/v2/x"'],
      // A base64 secret may hold a `/`.
      ['Failed to pull "bot:s3/cret@registry.example/x"', 'Failed to pull "***@registry.example/x"'],
      ['pull https://bot:s3/cret@registry.example/x', 'pull https://***@registry.example/x'],
      ['pull https://s3/cret@registry.example/x:1@' + digest, 'pull https://***@registry.example/x:1@' + digest],
    ];
    for (const [text, shown] of cases) {
      assert.equal(kubernetesMessage(text), shown);
      assert.doesNotMatch(kubernetesMessage(text), /s3cret|s3:cr3t|s3\/cret|token-only/);
    }
  });

  it('leaves an image digest as it is: name:tag@sha256:… holds no credential', () => {
    for (const image of [`runner:1@${digest}`, `registry.example/runner:1@${digest}`, `registry.example:5000/runner:1@${digest}`, `runner@${digest}`, `https://registry.example/v2/runner@${digest}`]) {
      const text = `Failed to pull image "${image}": not found`;
      assert.equal(kubernetesMessage(text), text);
    }
  });
});
