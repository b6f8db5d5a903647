# Entrypoint of the Windows runner image: the same modes, settings and exit codes as docker/start.sh (untested, see README).
# Modes: all (default: register, run one job), register (into AZP_CONFIG_DIR), run (from AZP_CONFIG_DIR), retire,
# recycle (a sidecar that deletes its own pod once the agent has run its job: fresh pod per job on older clusters),
# autoscaler and docker-proxy (Linux only: the pool's in-cluster autoscaler; dockerMode hostSocket's sidecar).
param([string]$Mode = 'all')
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$AgentDir = 'C:\azp\agent'
$ConfigError = 78 # as start.sh: a failure before the agent ran; never the exit code once it has run
$SecretNames = 'AZP_TOKEN,AZP_TOKEN_FILE,AZP_CLIENT_ID,AZP_TENANT_ID,AZP_CLIENT_SECRET,AZP_CLIENT_SECRET_FILE'

function Write-Log([string]$Message) { Write-Host "start.ps1: $Message" }
function Stop-WithError([string]$Message) {
  [Console]::Error.WriteLine("start.ps1: error: $Message")
  exit $ConfigError
}
function Get-Setting([string]$Name, [string]$Default = '') {
  $value = [Environment]::GetEnvironmentVariable($Name)
  if ([string]::IsNullOrEmpty($value)) { return $Default }
  return $value
}

# Take the credential settings out of the environment first: every child from here on starts without them.
$Token = Get-Setting 'AZP_TOKEN'
$TokenFile = Get-Setting 'AZP_TOKEN_FILE'
$ClientId = Get-Setting 'AZP_CLIENT_ID'
$TenantId = Get-Setting 'AZP_TENANT_ID'
$ClientSecret = Get-Setting 'AZP_CLIENT_SECRET'
$ClientSecretFile = Get-Setting 'AZP_CLIENT_SECRET_FILE'
foreach ($name in ($SecretNames -split ',')) { [Environment]::SetEnvironmentVariable($name, $null) }
Get-ChildItem Env: | Where-Object Name -like 'VSTS_AGENT_INPUT_*' | ForEach-Object { Remove-Item "Env:$($_.Name)" }

if ($Mode -notin @('all', 'register', 'run', 'retire', 'recycle', 'autoscaler', 'docker-proxy')) {
  Stop-WithError "unknown mode '$Mode' (expected all, register, run, retire, recycle, autoscaler or docker-proxy)"
}
# The in-cluster autoscaler runs from a Linux runner image, and registers Linux agents only: on Windows the agent's key
# is protected for the machine that made it (DPAPI), so it cannot be made for a pod the way start.sh does.
if ($Mode -eq 'autoscaler') { Stop-WithError 'the autoscaler runs from the Linux runner image' }
if ($Mode -eq 'docker-proxy') { Stop-WithError 'docker-proxy mode needs the Linux image: it passes on a node''s Docker socket' }
# The newest Node the agent package ships (externals\node20_1, node24, …), which runs runner.js (runner/main.ts).
function Get-AgentNode {
  $nodes = @(Get-ChildItem -Path (Join-Path $AgentDir 'externals\node*\bin\node.exe') -ErrorAction SilentlyContinue |
    Sort-Object { [int]('0' + (($_.Directory.Parent.Name -replace '^node', '') -replace '_.*$', '')) })
  if ($nodes.Count -eq 0) { Stop-WithError "no Node.js under $AgentDir\externals (node*\bin\node.exe): is $AgentDir an agent package?" }
  return $nodes[-1].FullName
}
$Runner = 'C:\azp\runner.js'

# --- recycle mode: the sidecar that deletes its own pod once the agent has run its job, shared with start.sh ---
if ($Mode -eq 'recycle') {
  & (Get-AgentNode) $Runner recycle
  exit $LASTEXITCODE
}

# --- settings: defaults and checks are runner.js's (runner/start-settings.ts, shared with start.sh), told which
# credential settings are set, never their values; one NAME=value line each ---
$Node = Get-AgentNode
$credentialsSet = @(@{ AZP_TOKEN = $Token; AZP_TOKEN_FILE = $TokenFile; AZP_CLIENT_ID = $ClientId; AZP_TENANT_ID = $TenantId
    AZP_CLIENT_SECRET = $ClientSecret; AZP_CLIENT_SECRET_FILE = $ClientSecretFile }.GetEnumerator() |
  Where-Object { $_.Value } | ForEach-Object { $_.Key })
# Node writes UTF-8; Windows PowerShell decodes a native command's output by the console's code page otherwise.
[Console]::OutputEncoding = [Text.Encoding]::UTF8
$settingLines = @(& $Node $Runner settings $Mode @credentialsSet)
if ($LASTEXITCODE -ne 0) { exit $ConfigError }
$Settings = @{}
foreach ($line in $settingLines) {
  $name, $value = $line -split '=', 2
  if ($null -eq $value -or $name -notin @('AZP_URL', 'AZP_POOL', 'AZP_AGENT_NAME', 'AZP_WORK', 'AZP_REMOVE_ON_EXIT', 'AZP_CONFIG_DIR', 'AZP_REGISTRATION', 'AZP_RECYCLE_DIR', 'auth')) {
    Stop-WithError "runner.js settings printed '$name', which is no setting"
  }
  $Settings[$name] = $value
}
$AZP_URL = $Settings.AZP_URL
$AZP_POOL = $Settings.AZP_POOL
$AZP_AGENT_NAME = $Settings.AZP_AGENT_NAME
$AZP_WORK = $Settings.AZP_WORK
$AZP_REMOVE_ON_EXIT = $Settings.AZP_REMOVE_ON_EXIT
$AZP_CONFIG_DIR = $Settings.AZP_CONFIG_DIR
$AZP_RECYCLE_DIR = $Settings.AZP_RECYCLE_DIR
$Auth = $Settings.auth

function Read-SecretFile([string]$Setting, [string]$Path) {
  if (-not (Test-Path -PathType Leaf $Path)) { Stop-WithError "$Setting='$Path' is not a readable file" }
  $value = ((Get-Content -Raw $Path) -replace '\s', '')
  if (-not $value) { Stop-WithError "$Setting='$Path' is empty" }
  if ($Mode -eq 'all') {
    Remove-Item -Force $Path -ErrorAction SilentlyContinue
    if (Test-Path $Path) {
      Stop-WithError ("$Setting='$Path' can't be deleted after use, so job steps could read it: in the default mode pass " +
        'the secret in a deletable file or as an environment variable, or run the register and run modes in separate containers')
    }
  }
  return $value
}

# The secret files, once the settings are known to be right.
if ($TokenFile) { $Token = Read-SecretFile 'AZP_TOKEN_FILE' $TokenFile }
if ($ClientSecretFile) { $ClientSecret = Read-SecretFile 'AZP_CLIENT_SECRET_FILE' $ClientSecretFile }

# --- steps ---
# Removes what an earlier run left behind: the entries of the agent root its package did not bring (.pristine), the
# work folder and the temp folder; runner.js (runner/clean-slate.ts, shared with start.sh).
function Clear-Slate {
  & $Node $Runner clean-slate --agent-dir $AgentDir --work $AZP_WORK $env:TEMP
  if ($LASTEXITCODE -ne 0) { exit $ConfigError }
}

# Runs config.cmd with the credential in its environment only (the agent takes --token/--clientSecret from there).
function Invoke-ConfigWithCredential([string[]]$Arguments) {
  if ($Auth -eq 'pat') {
    $env:VSTS_AGENT_INPUT_TOKEN = $Token
    $Arguments += @('--auth', 'pat')
  } else {
    $env:VSTS_AGENT_INPUT_CLIENTSECRET = $ClientSecret
    $Arguments += @('--auth', 'SP', '--clientId', $ClientId, '--tenantId', $TenantId)
  }
  try {
    & (Join-Path $AgentDir 'config.cmd') @Arguments
    return $LASTEXITCODE
  } finally {
    Remove-Item Env:VSTS_AGENT_INPUT_TOKEN, Env:VSTS_AGENT_INPUT_CLIENTSECRET -ErrorAction SilentlyContinue
  }
}

function Register-Agent {
  Write-Log "registering agent '$AZP_AGENT_NAME' in pool '$AZP_POOL' at $AZP_URL"
  $rc = Invoke-ConfigWithCredential @('--unattended', '--url', $AZP_URL, '--pool', $AZP_POOL, '--agent', $AZP_AGENT_NAME,
    '--work', $AZP_WORK, '--replace')
  if ($rc -ne 0) {
    [Console]::Error.WriteLine("start.ps1: error: registration failed (config.cmd exited $rc)")
    exit $rc
  }
}

# The agent's settings files (those the package didn't bring) into AZP_CONFIG_DIR and back: runner/agent-settings.ts.
function Save-Settings {
  & $Node $Runner save-registration $AgentDir $AZP_CONFIG_DIR
  if ($LASTEXITCODE -ne 0) { exit $ConfigError }
}

function Restore-Settings {
  & $Node $Runner restore-registration $AgentDir $AZP_CONFIG_DIR
  if ($LASTEXITCODE -ne 0) { exit $ConfigError }
}

function Remove-Registration {
  foreach ($attempt in 1..5) {
    Write-Log "removing agent '$AZP_AGENT_NAME' from pool '$AZP_POOL' (attempt $attempt)"
    if ((Invoke-ConfigWithCredential @('remove', '--unattended')) -eq 0) { return $true }
    Start-Sleep -Seconds 10
  }
  [Console]::Error.WriteLine('start.ps1: error: could not remove the agent registration')
  return $false
}

# As start.sh: with the recycle sidecar, the agent starts only once the sidecar has answered; if this container starts
# again, the sidecar deletes the pod instead.
function Wait-AgentStartAllowed {
  & $Node $Runner recycle-start $AZP_RECYCLE_DIR
  if ($LASTEXITCODE -ne 0) { exit $ConfigError }
}

function Invoke-Agent {
  if ($AZP_RECYCLE_DIR) { Wait-AgentStartAllowed }
  Write-Log "running agent '$AZP_AGENT_NAME' for one job"
  # agent.disableupdate: the agent ignores update requests (the image pins the agent; an update would use up --once).
  $env:VSO_AGENT_IGNORE = (@($env:VSO_AGENT_IGNORE, $SecretNames) | Where-Object { $_ }) -join ','
  [Environment]::SetEnvironmentVariable('agent.disableupdate', 'true')
  & (Join-Path $AgentDir 'run.cmd') --once
  $rc = $LASTEXITCODE
  Write-Log "agent exited with code $rc"
  return $rc
}

Set-Location $AgentDir
switch ($Mode) {
  'register' {
    Clear-Slate
    Register-Agent
    Save-Settings
    Write-Log "registration saved in $AZP_CONFIG_DIR"
  }
  'retire' {
    Clear-Slate
    Register-Agent
    if (-not (Remove-Registration)) { exit 1 }
  }
  default {
    Clear-Slate
    if ($Mode -eq 'all') { Register-Agent } else { Restore-Settings }
    $rc = Invoke-Agent
    # The agent ran: whatever it exited with, this pod is done (a job may have chosen the code).
    if ($rc -eq $ConfigError) { $rc = 1 }
    if ($AZP_REMOVE_ON_EXIT -eq 'true' -and -not (Remove-Registration)) { $rc = 1 }
    if ($AZP_RECYCLE_DIR -and $rc -eq 0) {
      # Exiting would restart the agent in this same pod: the sidecar deletes the pod instead.
      & $Node $Runner recycle-done $AZP_RECYCLE_DIR
      if ($LASTEXITCODE -ne 0) { exit 1 }
      Write-Log 'job done: waiting for the recycle sidecar to replace this pod'
      while ($true) { Start-Sleep -Seconds 1 }
    }
    exit $rc
  }
}
