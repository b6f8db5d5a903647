// The entrypoint's settings (docker/start.sh, docker/start.ps1): defaults and every check, in one place for both
// operating systems. The entrypoint keeps the credential itself (it reads and holds it in a shell no job step can read,
// docker/README.md) and tells this command only which credential settings are set, never their values.
import { logLine } from '../src/core/index.js';
import { SettingError } from './settings.js';

/** The modes that reach the settings (the others need none: recycle, autoscaler, docker-proxy, share-externals). */
export type StartMode = 'all' | 'register' | 'run' | 'retire';
const startModes: readonly StartMode[] = ['all', 'register', 'run', 'retire'];

/** The credential settings, by name; the entrypoint takes them out of its environment before anything runs. */
export const credentialNames = ['AZP_TOKEN', 'AZP_TOKEN_FILE', 'AZP_CLIENT_ID', 'AZP_TENANT_ID', 'AZP_CLIENT_SECRET', 'AZP_CLIENT_SECRET_FILE'] as const;
type CredentialName = (typeof credentialNames)[number];

export interface StartSettings {
  AZP_URL: string;
  AZP_POOL: string;
  AZP_AGENT_NAME: string;
  AZP_WORK: string;
  AZP_REMOVE_ON_EXIT: 'true' | 'false';
  AZP_CONFIG_DIR: string;
  AZP_REGISTRATION: 'pod' | 'autoscaler';
  AZP_RECYCLE_DIR: string;
  /** How config.sh authenticates: with the PAT, the service principal, or not at all (run mode). */
  auth: 'pat' | 'sp' | 'none';
}

export interface StartContext {
  platform: 'linux' | 'windows';
  env: Readonly<Record<string, string | undefined>>;
  /** The default agent name: the host's (the pod's) name. */
  hostName: string;
  /** The credential settings the entrypoint found set (non-empty). */
  credentials: ReadonlySet<string>;
  /** Whether this user may write into the directory at `path`. */
  writableDir: (path: string) => boolean;
}

/**
 * Whatever could be read as a second line (or a terminal's command), and what Node made of bytes that are not UTF-8
 * (U+FFFD: the value it checked would not be the one the shell uses): no setting may carry either.
 */
const control = /[\p{Cc}\uFFFD]/u;
/** A value in a message: on one line, and never a logging command. */
const shown = (value: string) => logLine(value);

/**
 * The settings of `mode`, defaults applied; every problem at once (one line each) as a SettingError, so a wrong
 * container is mended in one go. The messages are the entrypoint's own since the image began: tests and users match them.
 */
export function readStartSettings(mode: string, context: StartContext): StartSettings {
  if (!startModes.includes(mode as StartMode)) throw new SettingError(`the settings are for the ${startModes.join(', ')} modes, not '${shown(mode)}'`);
  const { env, platform } = context;
  const problems: string[] = [];
  const setting = (name: string, fallback = '') => env[name] || fallback;
  const windows = platform === 'windows';

  const url = setting('AZP_URL');
  if (url === '') problems.push('AZP_URL is required: the organisation URL, e.g. https://dev.azure.com/contoso');
  else if (!/^https?:\/\/[^/\s]+(\/\S*)?$/i.test(url) || control.test(url)) problems.push(`AZP_URL='${shown(url)}' is not an http(s) organisation URL, e.g. https://dev.azure.com/contoso`);

  const pool = setting('AZP_POOL', 'Default');
  if (!/^\P{Cc}{1,128}$/u.test(pool) || control.test(pool)) problems.push('AZP_POOL must be a pool name (1-128 printable characters)');

  const agentName = setting('AZP_AGENT_NAME', context.hostName);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(agentName)) problems.push(`AZP_AGENT_NAME='${shown(agentName)}' must be 1-64 letters, digits, '.', '_' or '-' (default: the host name)`);

  const work = setting('AZP_WORK', '_work');
  const parent = windows ? /(^|[\\/])\.\.([\\/]|$)/ : /(^|\/)\.\.(\/|$)/;
  if (control.test(work) || parent.test(work)) problems.push(`AZP_WORK='${shown(work)}' must be a directory path without '..'`);

  const removeOnExit = setting('AZP_REMOVE_ON_EXIT', 'false');
  if (removeOnExit !== 'true' && removeOnExit !== 'false') problems.push('AZP_REMOVE_ON_EXIT must be true or false');
  else if (mode === 'run' && removeOnExit === 'true') problems.push('AZP_REMOVE_ON_EXIT=true needs the credential, which run mode never has: use the retire mode instead');

  const configDir = setting('AZP_CONFIG_DIR');
  if (configDir === '' && (mode === 'register' || mode === 'run')) problems.push(`AZP_CONFIG_DIR is required in ${mode} mode: the directory shared by register and run`);
  // Run mode reads the registration from it (a read-only volume will do); the others write it.
  if (configDir !== '' && (control.test(configDir) || (mode !== 'run' && !context.writableDir(configDir)))) problems.push(`AZP_CONFIG_DIR='${shown(configDir)}' is not a writable directory`);

  const registration = setting('AZP_REGISTRATION', 'pod');
  if (windows && registration !== 'pod') problems.push('AZP_REGISTRATION must be pod on Windows: the in-cluster autoscaler registers Linux agents only');
  else if (registration !== 'pod' && registration !== 'autoscaler') problems.push('AZP_REGISTRATION must be pod or autoscaler');
  else if (registration === 'autoscaler' && mode !== 'run') problems.push('AZP_REGISTRATION=autoscaler is for run mode: the autoscaler registers the agent');

  const recycleDir = setting('AZP_RECYCLE_DIR');
  if (recycleDir !== '' && mode !== 'run') problems.push('AZP_RECYCLE_DIR is for run mode, next to a recycle sidecar');
  else if (recycleDir !== '' && (control.test(recycleDir) || !context.writableDir(recycleDir))) problems.push(`AZP_RECYCLE_DIR='${shown(recycleDir)}' is not a writable directory (the volume shared with the recycle sidecar)`);

  const auth = readAuth(mode as StartMode, context.credentials, problems);
  if (problems.length > 0) throw new SettingError(problems.join('\n'));
  return {
    AZP_URL: url, AZP_POOL: pool, AZP_AGENT_NAME: agentName, AZP_WORK: work, AZP_REMOVE_ON_EXIT: removeOnExit as 'true' | 'false',
    AZP_CONFIG_DIR: configDir, AZP_REGISTRATION: registration as 'pod' | 'autoscaler', AZP_RECYCLE_DIR: recycleDir, auth,
  };
}

/** Which credential config.sh gets, from the names set: run mode none; the others exactly one whole kind. */
function readAuth(mode: StartMode, credentials: ReadonlySet<string>, problems: string[]): StartSettings['auth'] {
  const has = (name: CredentialName) => credentials.has(name);
  const pat = has('AZP_TOKEN') || has('AZP_TOKEN_FILE');
  const sp = has('AZP_CLIENT_ID') || has('AZP_TENANT_ID') || has('AZP_CLIENT_SECRET') || has('AZP_CLIENT_SECRET_FILE');
  if (mode === 'run') {
    if (pat || sp) problems.push(`run mode takes no credential (${credentialNames.join(', ')}): the job would run next to it; register in register mode`);
    return 'none';
  }
  if (pat && sp) {
    problems.push('set either a PAT (AZP_TOKEN or AZP_TOKEN_FILE) or a service principal (AZP_CLIENT_ID, AZP_TENANT_ID, AZP_CLIENT_SECRET), not both');
  } else if (pat) {
    if (has('AZP_TOKEN') && has('AZP_TOKEN_FILE')) problems.push('set AZP_TOKEN or AZP_TOKEN_FILE, not both');
    return 'pat';
  } else if (sp) {
    if (!has('AZP_CLIENT_ID')) problems.push('AZP_CLIENT_ID is required for service principal registration');
    if (!has('AZP_TENANT_ID')) problems.push('AZP_TENANT_ID is required for service principal registration');
    if (!has('AZP_CLIENT_SECRET') && !has('AZP_CLIENT_SECRET_FILE')) problems.push('AZP_CLIENT_SECRET or AZP_CLIENT_SECRET_FILE is required for service principal registration');
    if (has('AZP_CLIENT_SECRET') && has('AZP_CLIENT_SECRET_FILE')) problems.push('set AZP_CLIENT_SECRET or AZP_CLIENT_SECRET_FILE, not both');
    return 'sp';
  } else {
    problems.push('no credential: set AZP_TOKEN_FILE or AZP_TOKEN (a PAT with Agent Pools read & manage), or AZP_CLIENT_ID, AZP_TENANT_ID and AZP_CLIENT_SECRET (a service principal)');
  }
  return 'none';
}

/**
 * The settings as the entrypoint reads them: one `NAME=value` line each. No value holds a line break (checked above),
 * so a line is a setting and nothing else.
 */
export function formatStartSettings(settings: StartSettings): string {
  return Object.entries(settings).map(([name, value]) => `${name}=${value}`).join('\n') + '\n';
}
