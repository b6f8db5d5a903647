// What the first run's build of etcd and Kubernetes (tests/cluster/build.sh) is at, in words: which component, and
// whether it downloads its modules, compiles (which package, how many so far) or links (which commands). Read from the
// build's output line by line: build.sh's "== building" line names each component and its commands, `go get` says
// "go: downloading", and `go build -v` prints each package as it compiles it, a command's own package last, then links.
// Any other line (the Debian packages before, an error) is shown as it is. No I/O: recorded lines test it.

interface BuildProgress {
  /** "etcd 3.6.16", from build.sh's "== building" line; undefined outside the build. */
  component?: string;
  /** The commands of the component: the import path of each command's package, and the binary it becomes. */
  commands: Array<{ name: string; path: string }>;
  step: 'resolve' | 'download' | 'compile' | 'link' | 'other';
  downloaded: number;
  compiled: number;
  /** The commands whose package has compiled: they are linking (or linked). */
  linking: string[];
  /** The module or package of the last line, or the last line itself for `other`. */
  latest: string;
}

const startBuild: BuildProgress = { commands: [], step: 'other', downloaded: 0, compiled: 0, linking: [], latest: '' };

// "== building etcd 3.6.16: etcd=go.etcd.io/etcd/server/v3"; a command without name= is named as go names it.
const componentLine = /^== building (.+?): (.+)$/;
const packageLine = /^[A-Za-z0-9][\w.~/+-]*$/;

function followBuild(progress: BuildProgress, line: string): BuildProgress {
  const text = line.trim();
  const component = componentLine.exec(text);
  if (component) {
    const commands = component[2].split(/\s+/).map((entry) => {
      const [name, path] = entry.includes('=') ? entry.split('=', 2) : [entry.split('/').pop()!, entry];
      return { name, path };
    });
    return { ...startBuild, component: component[1], commands, step: 'resolve' };
  }
  if (progress.component === undefined || /^built /.test(text)) return { ...startBuild, latest: text };
  const download = /^go: downloading (\S+)/.exec(text);
  if (download) return { ...progress, step: 'download', downloaded: progress.downloaded + 1, latest: download[1] };
  const resolved = /^go: (?:added|upgraded|downgraded|finding|extracting) (\S+)/.exec(text);
  if (resolved) return { ...progress, step: 'resolve', latest: resolved[1] };
  if (!packageLine.test(text)) return { ...progress, step: 'other', latest: text };
  const compiled = progress.compiled + 1;
  const command = progress.commands.find((c) => c.path === text);
  if (command) return { ...progress, step: 'link', compiled, linking: [...progress.linking, command.name], latest: text };
  return { ...progress, step: 'compile', compiled, latest: text };
}

function describeBuild(progress: BuildProgress): string {
  const { component, step, latest } = progress;
  if (component === undefined) return latest;
  const linking = progress.linking.length > 0 ? `linking ${progress.linking.join(', ')}` : '';
  const at = ((): string => {
    switch (step) {
      case 'resolve':
        return `resolving its modules${progress.downloaded > 0 ? ` (${progress.downloaded} downloaded)` : ''}${latest ? `: ${latest}` : ''}`;
      case 'download':
        return `downloading modules (${progress.downloaded}): ${latest}`;
      case 'compile':
        return `${linking ? `${linking}; ` : ''}compiling (package ${progress.compiled}): ${latest}`;
      case 'link':
        return `${linking} (${progress.compiled} packages compiled)`;
      default:
        return latest;
    }
  })();
  return `${component}: ${at}`;
}

/** A step's note that shows the build's progress instead of its last line. */
export function followingBuild(note: (line: string) => void): (line: string) => void {
  let progress = startBuild;
  return (line) => note(describeBuild((progress = followBuild(progress, line))));
}
