// A tiny case-insensitive router: path templates with {params}, each route declaring its access and api-version release.
import type { Access } from './auth.js';
import type { Ctx } from './http.js';
import type { Store } from './store.js';

export interface Route {
  method: string;
  /** e.g. `/{org}/_apis/distributedtask/pools/{poolId}`. */
  pattern: string;
  access: Access;
  /** 'none' = no api-version rules (OAuth, downloads, admin); a version = released; undefined = preview only. */
  version: string | undefined;
  handle(ctx: Ctx, store: Store): void | Promise<void>;
}

interface Compiled {
  route: Route;
  regex: RegExp;
  names: string[];
}

export class Router {
  private readonly compiled: Compiled[] = [];

  add(...routes: Route[]): void {
    for (const route of routes) {
      const names: string[] = [];
      const source = route.pattern.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{(\w+)\}/g, (_, name: string) => {
        names.push(name);
        return '([^/]+)';
      });
      this.compiled.push({ route, regex: new RegExp(`^${source}/?$`, 'i'), names });
    }
  }

  /** The route for a method and path, with decoded params; `methodMismatch` when the path exists under another method. */
  match(method: string, path: string): { route: Route; params: Record<string, string> } | { methodMismatch: boolean } {
    let methodMismatch = false;
    for (const { route, regex, names } of this.compiled) {
      const found = regex.exec(path);
      if (!found) continue;
      if (route.method !== method) {
        methodMismatch = true;
        continue;
      }
      const params: Record<string, string> = {};
      names.forEach((name, index) => (params[name] = decodeURIComponent(found[index + 1])));
      return { route, params };
    }
    return { methodMismatch };
  }
}
