// What Azure DevOps accepts as the name of an agent pool, checked before any call reaches it (pure).

/**
 * Azure DevOps allows no control character (ASCII 1-31) nor unpaired surrogate in any name (its naming restrictions);
 * a line or paragraph separator breaks a name in every log line and table too. It documents no length for pool names:
 * 256 bounds what we send (a query string, an annotation, every pod's environment, the hub's snapshot) far above any
 * real pool name.
 */
export const maxPoolNameLength = 256;

export function poolNameProblem(value: string): string | undefined {
  if (/[\p{Cc}\p{Cs}\p{Zl}\p{Zp}]/u.test(value)) return 'must be one line without control characters; it holds a line break or another control character';
  return value.length > maxPoolNameLength ? `must be at most ${maxPoolNameLength} characters; got ${value.length}` : undefined;
}
