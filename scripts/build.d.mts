// Types of scripts/build.mjs for the TypeScript tests and benchmarks that build the hub themselves.
export declare const root: string;
export declare const stage: string;
export declare const taskNames: string[];
export declare const runtimeDir: string;
export declare function buildRuntime(): Promise<void>;
export declare function buildHub(out?: string): Promise<void>;
export declare function buildExtension(): Promise<void>;
