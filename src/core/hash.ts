/**
 * FNV-1a, 32 bits, over each character's first UTF-16 unit: stable across processes and releases (runner tags and
 * shared-look names depend on it).
 */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (const char of text) hash = Math.imul(hash ^ char.charCodeAt(0), 0x01000193) >>> 0;
  return hash;
}
