// Text the tasks print, made safe for the agent, and markdown cells for the run summary.
//
// The agent reads a task's stdout and stderr line by line (.NET ReadLine: a line ends at \n, \r or \r\n) and acts on
// the first `##vso[` anywhere in a line (azure-pipelines-agent, Command.TryParse). Its search is culture-aware (ICU),
// which skips control and default-ignorable characters: `#\u00AD#vso[` is found as well. Task-lib's commands
// (warning, debug, complete, setvariable) escape line breaks in their data, and a `##vso[` inside that data is only
// text, since the agent parses the line's first command; a plain line needs both done here.

// Characters ICU's collation ignores, which may sit between the prefix's letters without hiding it from the agent.
const ignorable = '[\\p{Cc}\\p{Default_Ignorable_Code_Point}]*';
const commandPrefix = new RegExp(['#', '#', 'v', 's', 'o'].join(ignorable), 'giu');

/** The text with every `##vso` the agent could find broken up (`**vso`, as the agent itself deactivates commands). */
export function withoutLoggingCommands(text: string): string {
  return text.replace(commandPrefix, (match) => match.replace(/#/g, '*'));
}

/** One plain log line: line breaks shown as `\r` and `\n`, so a value cannot start a line of its own, and no command. */
export function logLine(text: string): string {
  return withoutLoggingCommands(text.replace(/\r/g, '\\r').replace(/\n/g, '\\n'));
}

/** A value in a markdown table cell: one line, no column break, no HTML. */
export function markdownCell(value: string): string {
  return value.replace(/\r\n|\r|\n/g, ' ').replace(/\|/g, '\\|').replace(/</g, '&lt;');
}

/** A markdown table; every cell is escaped with markdownCell. */
export function markdownTable(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `|${cells.map((cell) => (cell === '' ? ' ' : ` ${markdownCell(cell)} `)).join('|')}|`;
  return [line(header), `|${header.map(() => '---').join('|')}|`, ...rows.map(line)].join('\n');
}
