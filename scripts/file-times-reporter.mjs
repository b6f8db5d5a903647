// A test reporter beside `spec` for the e2e tier: each file's time (its top-level tests and suites, hooks included),
// written as one JSON object at the end for scripts/test.mjs to print, slowest first.
export default async function* fileTimes(source) {
  const seconds = {};
  for await (const event of source) {
    if ((event.type === 'test:pass' || event.type === 'test:fail') && event.data.nesting === 0 && event.data.file) {
      seconds[event.data.file] = (seconds[event.data.file] ?? 0) + event.data.details.duration_ms / 1000;
    }
  }
  yield JSON.stringify(seconds);
}
