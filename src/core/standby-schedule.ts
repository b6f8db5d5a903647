// Standby on a schedule: idle agents kept ready in office hours and none at night, as Managed DevOps Pools' most-used
// speed feature does. One window a line, its time zone always written out (a cluster's clock is UTC, its users'
// office hours are not):
//   Mon-Fri 07:00-19:00 Europe/Berlin 4
//   Sat 09:00-13:00 America/New_York 1
// - Days: Mon..Sun, a range (Mon-Fri, Fri-Mon) or a list (Mon,Wed,Fri); `*` is every day.
// - Times: 00:00 to 24:00; a window whose end is before its start runs past midnight and belongs to its start day.
// - Where windows overlap the largest count wins; outside every window the plain `standby` input applies.
// - A comment takes a line of its own (# first).

export interface StandbyWindow {
  /** The line as written, trimmed: what the decision's reason quotes. */
  text: string;
  /** 0 = Monday … 6 = Sunday. */
  days: number[];
  /** Minutes after midnight, local to `timeZone`. */
  start: number;
  end: number;
  timeZone: string;
  standby: number;
}

const dayNames = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const minutesPerDay = 24 * 60;

function parseDays(text: string): number[] | undefined {
  if (text === '*') return [0, 1, 2, 3, 4, 5, 6];
  const days = new Set<number>();
  for (const part of text.toLowerCase().split(',')) {
    const [from, to] = part.split('-').map((name) => dayNames.indexOf(name));
    if (from === -1 || to === -1 || part.split('-').length > 2) return undefined;
    for (let day = from; ; day = (day + 1) % 7) {
      days.add(day);
      if (to === undefined || day === to) break;
    }
  }
  return [...days].sort();
}

function parseMinutes(text: string): number | undefined {
  const match = /^([01]\d|2[0-4]):([0-5]\d)$/.exec(text);
  if (!match) return undefined;
  const minutes = Number(match[1]) * 60 + Number(match[2]);
  return minutes <= minutesPerDay ? minutes : undefined;
}

function knownTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** The windows of a schedule, or every line's problem (numbered from 1). Blank lines and # comments are skipped. */
export function parseStandbySchedule(text: string, maxStandby: number): { windows: StandbyWindow[]; problems: string[] } {
  const windows: StandbyWindow[] = [];
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const fail = (why: string): void => void problems.push(`line ${index + 1} ('${line}'): ${why}`);
    const fields = line.split(/\s+/);
    if (fields.length !== 4) return fail('write <days> <HH:MM>-<HH:MM> <time zone> <standby>, e.g. Mon-Fri 07:00-19:00 Europe/Berlin 4.');
    const [daysText, timesText, timeZone, countText] = fields;
    const days = parseDays(daysText);
    if (days === undefined) return fail(`days must be Mon..Sun, a range such as Mon-Fri, a list such as Mon,Wed or *; got '${daysText}'.`);
    const [start, end] = timesText.split('-').map(parseMinutes);
    if (start === undefined || end === undefined || timesText.split('-').length !== 2) return fail(`times must be HH:MM-HH:MM between 00:00 and 24:00; got '${timesText}'.`);
    if (start === end || start === minutesPerDay) return fail('the window is empty (its start is its end, or 24:00).');
    if (!knownTimeZone(timeZone)) return fail(`'${timeZone}' is not an IANA time zone (e.g. Europe/Berlin, America/New_York, UTC).`);
    if (!/^\d+$/.test(countText) || Number(countText) > maxStandby) return fail(`the standby count must be a whole number from 0 to ${maxStandby} (maxReplicas); got '${countText}'.`);
    windows.push({ text: fields.join(' '), days, start, end, timeZone, standby: Number(countText) });
  });
  return { windows, problems };
}

/** One formatter per time zone: making one costs far more than using it, and a pass asks every window. */
const formatters = new Map<string, Intl.DateTimeFormat>();

/** The weekday (0 = Monday) and minutes after midnight at `at` in `timeZone`. */
function localTime(at: Date, timeZone: string): { day: number; minutes: number } {
  let format = formatters.get(timeZone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    formatters.set(timeZone, format);
  }
  const parts = format.formatToParts(at);
  const part = (type: string) => parts.find((p) => p.type === type)!.value;
  return { day: dayNames.indexOf(part('weekday').toLowerCase()), minutes: Number(part('hour')) * 60 + Number(part('minute')) };
}

function covers(window: StandbyWindow, at: Date): boolean {
  const { day, minutes } = localTime(at, window.timeZone);
  if (window.start < window.end) return window.days.includes(day) && minutes >= window.start && minutes < window.end;
  // Past midnight: the evening part on a window day, the morning part on the day after one.
  return (window.days.includes(day) && minutes >= window.start) || (window.days.includes((day + 6) % 7) && minutes < window.end);
}

/** The standby count at `at`: the largest of the windows that cover it, else `standby`; with the window that set it. */
export function standbyAt(standby: number, windows: readonly StandbyWindow[], at: Date): { standby: number; window?: StandbyWindow } {
  let chosen: StandbyWindow | undefined;
  for (const window of windows) if (covers(window, at) && (chosen === undefined || window.standby > chosen.standby)) chosen = window;
  return chosen === undefined ? { standby } : { standby: chosen.standby, window: chosen };
}
