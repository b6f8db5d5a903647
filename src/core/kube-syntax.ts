// What Kubernetes and image registries accept, checked before anything reaches them: names, label keys and values,
// resource quantities (with their range), image references. Each rule returns what is wrong, or undefined.

const dnsLabelPattern = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const envNamePattern = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** An environment variable's name, as a shell can use it. */
export function envNameProblem(name: string): string | undefined {
  return envNamePattern.test(name) ? undefined : `'${name}' is not a variable name (letters, digits and _, not starting with a digit)`;
}
const labelNamePattern = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** RFC 1123 label (namespaces, StatefulSets): a-z, 0-9 and -, at most 63 characters. */
export function dnsLabelProblem(value: string, max = 63): string | undefined {
  if (!dnsLabelPattern.test(value)) return `must be a lowercase DNS label (a-z, 0-9 and -, starting and ending with a letter or digit); got '${value}'`;
  return value.length > max ? `must be at most ${max} characters; got ${value.length}` : undefined;
}

/** RFC 1123 subdomain (Secrets): DNS labels joined by dots, at most 253 characters. */
export function dnsSubdomainProblem(value: string): string | undefined {
  if (value.length > 253 || !value.split('.').every((part) => dnsLabelPattern.test(part) && part.length <= 63)) {
    return `must be a lowercase DNS subdomain (a-z, 0-9, - and ., at most 253 characters), such as runner-pat or runner.pat; got '${value}'`;
  }
  return undefined;
}

/** A label key: an optional DNS-subdomain prefix and `/`, then a name of at most 63 characters. */
export function labelKeyProblem(key: string): string | undefined {
  const slash = key.lastIndexOf('/');
  const [prefix, name] = slash < 0 ? [undefined, key] : [key.slice(0, slash), key.slice(slash + 1)];
  const ok = labelNamePattern.test(name) && name.length <= 63 && (prefix === undefined || dnsSubdomainProblem(prefix) === undefined);
  return ok ? undefined : `'${key}' is not a label key (an optional DNS prefix and /, then at most 63 of A-Z, a-z, 0-9, - _ ., starting and ending with a letter or digit)`;
}

/** A label value: empty, or at most 63 of A-Z, a-z, 0-9, - _ ., starting and ending with a letter or digit. */
export function labelValueProblem(value: string): string | undefined {
  return value === '' || (labelNamePattern.test(value) && value.length <= 63)
    ? undefined
    : `'${value}' is not a label value (at most 63 of A-Z, a-z, 0-9, - _ ., starting and ending with a letter or digit)`;
}

// A quantity's suffixes in milli-units, so that 500m and 1.5Gi are exact integers.
const thousand = 1000n;
const milliPerSuffix: Record<string, bigint> = {
  m: 1n, '': thousand,
  k: thousand ** 2n, M: thousand ** 3n, G: thousand ** 4n, T: thousand ** 5n, P: thousand ** 6n, E: thousand ** 7n,
  Ki: thousand * 1024n, Mi: thousand * 1024n ** 2n, Gi: thousand * 1024n ** 3n, Ti: thousand * 1024n ** 4n, Pi: thousand * 1024n ** 5n, Ei: thousand * 1024n ** 6n,
};
const quantityPattern = /^([0-9]+)(?:\.([0-9]+))?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;
const int64Max = 2n ** 63n - 1n;

/** A quantity as a fraction of milli-units (numerator, denominator), or undefined when it is not one. */
function milliUnits(value: string): { n: bigint; d: bigint } | undefined {
  const match = quantityPattern.exec(value);
  if (match === null) return undefined;
  const [, whole, fraction = '', suffix = ''] = match;
  return { n: BigInt(whole + fraction) * milliPerSuffix[suffix], d: 10n ** BigInt(fraction.length) };
}

/** A resource quantity such as 500m, 2, 1.5Gi or 10G, within what Kubernetes can hold (an int64). */
export function quantityProblem(value: string): string | undefined {
  const units = milliUnits(value);
  if (units === undefined) return `must be a Kubernetes quantity such as 500m, 2, 512Mi or 10Gi; got '${value}'`;
  // "No quantity may represent a number greater than 2^63-1" (apimachinery's Quantity): larger ones are capped.
  return units.n > int64Max * thousand * units.d ? `is beyond what Kubernetes can hold (at most 2^63-1, just under 8Ei); got '${value}'` : undefined;
}

/** True when quantity `a` is larger than `b` (both valid). */
export function quantityExceeds(a: string, b: string): boolean {
  const x = milliUnits(a)!;
  const y = milliUnits(b)!;
  return x.n * y.d > y.n * x.d;
}

/** A container's requests above their limits; a quantity that is not valid is another rule's problem. */
export function requestsAboveLimits(resources: { cpuRequest?: string; memoryRequest?: string; cpuLimit?: string; memoryLimit?: string }) {
  const pairs = [['cpuRequest', 'cpuLimit'], ['memoryRequest', 'memoryLimit']] as const;
  return pairs.flatMap(([request, limit]) => {
    const [wanted, most] = [resources[request], resources[limit]];
    const valid = wanted && most && quantityProblem(wanted) === undefined && quantityProblem(most) === undefined;
    return valid && quantityExceeds(wanted, most) ? [{ request, wanted, limit, most }] : [];
  });
}

// The distribution spec's reference grammar: [host[:port]/]path[:tag][@algorithm:digest], the path lowercase.
const pathComponent = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const host = '(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?';
const repositoryPattern = new RegExp(`^(?:${host}/)?${pathComponent}(?:/${pathComponent})*$`);
const imagePattern = new RegExp(`^((?:${host}/)?${pathComponent}(?:/${pathComponent})*)(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$`);
/** The longest repository (registry host and path) that registries and clients accept. */
const maxRepositoryLength = 255;

/** An image repository without tag or digest, such as myregistry.azurecr.io/runner. */
export function repositoryProblem(value: string): string | undefined {
  if (!repositoryPattern.test(value)) return `must be a lowercase image repository such as myregistry.azurecr.io/runner; got '${value}'`;
  return value.length > maxRepositoryLength ? `must be at most ${maxRepositoryLength} characters, registry included; got ${value.length}` : undefined;
}

/** An image reference such as registry.example.com/runner:1.0 or repo@sha256:<digest>. */
export function imageReferenceProblem(value: string): string | undefined {
  const match = imagePattern.exec(value);
  if (match === null) return `must be an image reference such as registry.example.com/runner:1.0 or repo@sha256:<digest> (lowercase repository); got '${value}'`;
  return match[1].length > maxRepositoryLength ? `must name a repository of at most ${maxRepositoryLength} characters; got ${match[1].length}` : undefined;
}

/**
 * An image reference as Docker reads it, so that two spellings of one image compare equal: Docker Hub's implied
 * registry and `library/` dropped, `:latest` when it has neither tag nor digest.
 */
export function normalizeImage(image: string): string {
  let name = image.trim().replace(/^(docker\.io|index\.docker\.io|registry-1\.docker\.io)\//, '');
  name = name.replace(/^library\//, '');
  const lastPart = name.slice(name.lastIndexOf('/') + 1);
  return lastPart.includes(':') || lastPart.includes('@') ? name : `${name}:latest`;
}
