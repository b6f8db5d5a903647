// An in-memory Files port for component tests: paths are plain strings, directories exist when something is below them.
import type { Files } from '../../src/core/ports/files.js';

export class MemoryFiles implements Files {
  readonly contents = new Map<string, string>();
  readonly directories = new Set<string>(['/']);
  private temp = 0;

  kind(path: string): 'file' | 'directory' | undefined {
    if (this.contents.has(path)) return 'file';
    return this.directories.has(path) ? 'directory' : undefined;
  }
  read(path: string): string {
    const text = this.contents.get(path);
    if (text === undefined) throw new Error(`ENOENT: no such file '${path}'`);
    return text;
  }
  write(path: string, text: string): void {
    if (this.kind(this.dirname(path)) !== 'directory') throw new Error(`ENOENT: no directory for '${path}'`);
    this.contents.set(path, text);
  }
  copy(from: string, to: string): void {
    this.write(to, this.read(from));
  }
  makeTempDir(parent: string, prefix: string): string {
    const dir = this.join(parent, `${prefix}${++this.temp}`);
    this.directories.add(dir);
    return dir;
  }
  remove(path: string): void {
    for (const key of [...this.contents.keys()]) if (key === path || key.startsWith(`${path}/`)) this.contents.delete(key);
    for (const dir of [...this.directories]) if (dir === path || dir.startsWith(`${path}/`)) this.directories.delete(dir);
  }
  join(...parts: string[]): string {
    return parts.join('/').replace(/\/+/g, '/');
  }
  writeTarget(path: string): string | undefined {
    const parts: string[] = [];
    for (const part of path.split('/')) {
      if (part === '..') parts.pop();
      else if (part !== '' && part !== '.') parts.push(part);
    }
    const target = `/${parts.join('/')}`;
    return this.kind(this.dirname(target)) === 'directory' ? target : undefined;
  }
  isWithin(path: string, folder: string): boolean {
    return path === folder || path.startsWith(`${folder.replace(/\/$/, '')}/`);
  }
  dirname(path: string): string {
    const index = path.lastIndexOf('/');
    return index <= 0 ? '/' : path.slice(0, index);
  }
}
