// The pipeline host as the core sees it: inputs, outputs, secrets and logs. The task adapters implement it with
// azure-pipelines-task-lib; tests implement it in memory. Nothing in the core imports the task library.

/** A service connection's data as the agent hands it to a task. */
export interface ServiceEndpoint {
  url?: string;
  scheme: string;
  parameters: Record<string, string>;
  data: Record<string, string>;
}

/** Where a flow says what it does: the pipeline log for a task, the pod log for the autoscaler. */
export interface Log {
  info(message: string): void;
  warning(message: string): void;
}

export interface TaskHost extends Log {
  /** The raw value of an input, trimmed; undefined when it is empty or absent. */
  getInput(name: string): string | undefined;
  /** Like getInput, for a credential: the value is masked before anything could log it, and never echoed. */
  getSecretInput(name: string): string | undefined;
  /**
   * A service connection; every credential it holds is masked before it is returned. Undefined when there is none;
   * throws, with a message that quotes none of its contents, when it cannot be read.
   */
  getEndpoint(id: string): ServiceEndpoint | undefined;
  /** The value of a pipeline variable such as `Agent.TempDirectory`. */
  getVariable(name: string): string | undefined;
  /** Sets an output variable that later steps and jobs can read. */
  setOutput(name: string, value: string): void;
  /** Masks a value in every later log line. */
  setSecret(value: string): void;
  debug(message: string): void;
  /** Attaches a markdown summary to the run. */
  addSummary(title: string, markdown: string): void;
}
