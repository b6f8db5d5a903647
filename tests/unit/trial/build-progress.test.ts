// What `npm start` shows while the first run compiles etcd and Kubernetes: the step the build is in, from its output.
// The `go` lines are as go 1.26 prints them (recorded from `go get` and `go build -v`); the package paths of the
// Kubernetes part are real ones of its tree.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { followingBuild } from '../../../trial/build-progress.js';

/** What the trial shows after each line. */
const shown = (lines: string[]) => {
  const notes: string[] = [];
  lines.forEach(followingBuild((note) => notes.push(note)));
  return notes;
};

describe('the first run\'s build progress', () => {
  it('names the component and the step: download with a count, compile with the package, link with the commands', () => {
    assert.deepEqual(shown([
      '== building etcd 3.6.16: etcd=go.etcd.io/etcd/server/v3',
      'go: downloading go.etcd.io/etcd/server/v3 v3.6.16',
      'go: downloading go.uber.org/zap v1.27.0',
      'go: added go.etcd.io/etcd/server/v3 v3.6.16',
      'internal/goarch',
      'runtime',
      'go.uber.org/zap',
      'go.etcd.io/etcd/server/v3',
      '== building Kubernetes 1.36.3: k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kubectl',
      'go: downloading k8s.io/kubernetes v1.36.3',
      'k8s.io/apimachinery/pkg/util/sets',
      'k8s.io/kubernetes/cmd/kubectl',
      'k8s.io/apiserver/pkg/server',
      'k8s.io/kubernetes/cmd/kubelet',
      'built etcd 3.6.16 and Kubernetes 1.36.3 into /var/cache/adr/k8s-1.36.3-etcd-3.6.16/bin in 371s',
    ]), [
      'etcd 3.6.16: resolving its modules',
      'etcd 3.6.16: downloading modules (1): go.etcd.io/etcd/server/v3',
      'etcd 3.6.16: downloading modules (2): go.uber.org/zap',
      'etcd 3.6.16: resolving its modules (2 downloaded): go.etcd.io/etcd/server/v3',
      'etcd 3.6.16: compiling (package 1): internal/goarch',
      'etcd 3.6.16: compiling (package 2): runtime',
      'etcd 3.6.16: compiling (package 3): go.uber.org/zap',
      'etcd 3.6.16: linking etcd (4 packages compiled)',
      'Kubernetes 1.36.3: resolving its modules',
      'Kubernetes 1.36.3: downloading modules (1): k8s.io/kubernetes',
      'Kubernetes 1.36.3: compiling (package 1): k8s.io/apimachinery/pkg/util/sets',
      'Kubernetes 1.36.3: linking kubectl (2 packages compiled)',
      'Kubernetes 1.36.3: linking kubectl; compiling (package 3): k8s.io/apiserver/pkg/server',
      'Kubernetes 1.36.3: linking kubectl, kubelet (4 packages compiled)',
      'built etcd 3.6.16 and Kubernetes 1.36.3 into /var/cache/adr/k8s-1.36.3-etcd-3.6.16/bin in 371s',
    ]);
  });

  it('shows any other line as it is: the Debian packages before the build, an error in it', () => {
    assert.deepEqual(shown([
      'Get:1 http://deb.debian.org/debian bookworm/main amd64 runc amd64 1.1.5+ds1-1+deb12u1 [2,710 kB]',
      '== building etcd 3.6.16: etcd=go.etcd.io/etcd/server/v3',
      'go: go.etcd.io/etcd/server/v3@v3.6.16: Get "https://proxy.golang.org/go.etcd.io/etcd/server/v3/@v/v3.6.16.mod": dial tcp: lookup proxy.golang.org: no such host',
      '# go.etcd.io/etcd/server/v3/embed',
      'embed/config.go:12:2: undefined: x',
    ]), [
      'Get:1 http://deb.debian.org/debian bookworm/main amd64 runc amd64 1.1.5+ds1-1+deb12u1 [2,710 kB]',
      'etcd 3.6.16: resolving its modules',
      'etcd 3.6.16: go: go.etcd.io/etcd/server/v3@v3.6.16: Get "https://proxy.golang.org/go.etcd.io/etcd/server/v3/@v/v3.6.16.mod": dial tcp: lookup proxy.golang.org: no such host',
      'etcd 3.6.16: # go.etcd.io/etcd/server/v3/embed',
      'etcd 3.6.16: embed/config.go:12:2: undefined: x',
    ]);
  });
});
