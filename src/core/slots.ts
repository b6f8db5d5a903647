// A runner's slots: pods and agents named `<runnerName>-<ordinal>`, one rule for the scaler, the hub and the autoscaler.

/** The slot ordinal of an agent named `<runnerName>-<n>`, or undefined for any other agent of the pool. */
export function slotOrdinal(runnerName: string, agentName: string): number | undefined {
  const prefix = `${runnerName}-`;
  if (!agentName.startsWith(prefix)) return undefined;
  const rest = agentName.slice(prefix.length);
  return /^(0|[1-9]\d*)$/.test(rest) ? Number(rest) : undefined;
}
