// The file system as the flows see it: the few operations they need, so a flow never imports node:fs.

export interface Files {
  /** What is at `path`: a file, a directory, or nothing. */
  kind(path: string): 'file' | 'directory' | undefined;
  read(path: string): string;
  /** Writes a file readable by its owner only when `private` is set (it may hold credentials). */
  write(path: string, text: string, options?: { private?: boolean }): void;
  copy(from: string, to: string): void;
  /** A new empty directory below `parent`, readable by its owner only. */
  makeTempDir(parent: string, prefix: string): string;
  remove(path: string): void;
  join(...parts: string[]): string;
  /** The folder a path is in. */
  dirname(path: string): string;
  /**
   * The real path a write to `path` lands on (`..` and links resolved, a dangling link followed), or undefined when
   * the folder it would be in does not exist.
   */
  writeTarget(path: string): string | undefined;
  /** True when `path` is `folder` or below it. Both are real paths. */
  isWithin(path: string, folder: string): boolean;
}
