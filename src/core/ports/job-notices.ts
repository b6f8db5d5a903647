// Runner pods' notices that their agent took a job (src/core/job-notice.ts), as the autoscaler's loop receives them.
// Each is a pod's word for an agent id, nothing more: the loop only looks sooner for it.

export interface JobNotices {
  /** Where runner pods send their notices: the address the autoscaler signs into each grant. */
  readonly url: string;
  /**
   * Hands `onNotice` the agent id of each well-formed notice from now on, and the address it came from (an IPv4 one
   * as a.b.c.d); the returned function ends that.
   */
  listen(onNotice: (agentId: number, from: string) => void): () => void;
}
