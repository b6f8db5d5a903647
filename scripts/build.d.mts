// Types of scripts/build.mjs for the TypeScript tests and benchmarks that build the hub, the runner helper or the extension themselves.
export declare const root: string;
export declare const stage: string;
export declare const runnerBundle: string;
export declare const taskNames: string[];
export declare function buildRunner(outfile?: string): Promise<void>;
export declare function buildHub(out?: string): Promise<void>;
export declare function buildExtension(): Promise<void>;
export declare const cliBundle: string;
export declare function buildCli(outfile?: string): Promise<void>;
export declare function packagedForTests(): boolean;
export declare function ensureExtension(): Promise<void>;
