<#
.SYNOPSIS
    Install leadworker as Windows services with NSSM: one service per instance (leadworker-1, leadworker-2, ...).

.DESCRIPTION
    Each service runs "leadworker run --stage <Stages> --metrics-port <MetricsPortBase + N>" and is set up so that:
      - stopping it sends a console Ctrl+C (leadworker stops consuming, lets in-flight jobs finish within
        LEADWORKER_SHUTDOWN_GRACE and exits 0), and NSSM waits ShutdownGraceSeconds + StopMarginSeconds for
        that before it kills the process: no window messages, no early TerminateProcess;
      - stdout and stderr (leadworker logs JSON lines to stderr) go to files under <DataDir>\logs, rotated
        daily and at RotateBytes, also while the service runs;
      - a process that exits is restarted after RestartDelayMs;
      - the environment comes from EnvFile (KEY=VALUE lines, as deploy/systemd/leadworker.env).
    Run it again to change settings: existing services are updated in place. Needs an elevated PowerShell and
    nssm.exe (https://nssm.cc) on PATH or given with -Nssm.

    With -Api it installs the HTTP API instead ("leadworker api --port <ApiPort>", service <ServicePrefix>-api),
    with the same environment, stop, log and restart settings.

.EXAMPLE
    .\install.ps1 -Api -ApiPort 8000 -Leadworker C:\leadworker\venv\Scripts\leadworker.exe

.EXAMPLE
    .\install.ps1 -Instances 4 -Leadworker C:\leadworker\venv\Scripts\leadworker.exe -EnvFile C:\ProgramData\leadworker\leadworker.env
#>
[CmdletBinding()]
param(
    [ValidateRange(1, 64)] [int] $Instances = 1,
    [string] $Leadworker = "C:\leadworker\venv\Scripts\leadworker.exe",
    [string] $Nssm = "nssm.exe",
    [string] $ServicePrefix = "leadworker",
    [string] $Stages = "all",
    [ValidateRange(1, 65000)] [int] $MetricsPortBase = 9463,
    [string] $DataDir = "C:\ProgramData\leadworker",
    [string] $EnvFile = "C:\ProgramData\leadworker\leadworker.env",
    # Must match LEADWORKER_SHUTDOWN_GRACE (seconds); NSSM waits this plus StopMarginSeconds after Ctrl+C.
    [ValidateRange(0, 3600)] [int] $ShutdownGraceSeconds = 30,
    [ValidateRange(5, 600)] [int] $StopMarginSeconds = 30,
    [ValidateRange(0, 3600000)] [int] $RestartDelayMs = 5000,
    [long] $RotateBytes = 10485760,
    # Service account. NetworkService and LocalService need no password; for another account give -Password.
    [string] $Account = "NT AUTHORITY\NetworkService",
    [securestring] $Password,
    [switch] $NoStart,
    # Install the HTTP API (leadworker api) rather than workers; LEADWORKER_API_HOST comes from EnvFile.
    [switch] $Api,
    [ValidateRange(1, 65535)] [int] $ApiPort = 8000
)

Set-StrictMode -Version Latest
$ErrorActionPreference = "Stop"

function Invoke-Nssm {
    param([Parameter(ValueFromRemainingArguments = $true)] [string[]] $Arguments)
    # Windows PowerShell turns a native command's stderr into terminating errors under "Stop": judge by the
    # exit code instead.
    $ErrorActionPreference = "Continue"
    $output = & $Nssm @Arguments 2>&1 | Out-String
    if ($LASTEXITCODE -ne 0) {
        throw "nssm $($Arguments -join ' ') failed ($LASTEXITCODE): $($output.Trim())"
    }
}

if (-not (Get-Command $Nssm -ErrorAction SilentlyContinue)) {
    throw "nssm not found ($Nssm): install it from https://nssm.cc and put it on PATH, or pass -Nssm C:\path\nssm.exe"
}
if (-not (Test-Path -LiteralPath $Leadworker)) {
    throw "leadworker not found at ${Leadworker}: pass -Leadworker <venv>\Scripts\leadworker.exe"
}

# The environment of every service: the KEY=VALUE lines of EnvFile, plus JSON logs.
$environment = @("LEADWORKER_LOG_FORMAT=json")
if (Test-Path -LiteralPath $EnvFile) {
    foreach ($line in Get-Content -LiteralPath $EnvFile) {
        $line = $line.Trim()
        if ($line -eq "" -or $line.StartsWith("#")) { continue }
        if ($line -notmatch '^[A-Za-z_][A-Za-z0-9_]*=') { throw "${EnvFile}: not a KEY=VALUE line: $line" }
        if ($line -match '^(LEADWORKER_METRICS_PORT|METRICS_PORT_BASE|WORKER_STAGES)=') { continue }  # per instance
        $environment += $line
    }
} else {
    Write-Warning "$EnvFile does not exist: the services run with leadworker's defaults"
}

$logDir = Join-Path $DataDir "logs"
New-Item -ItemType Directory -Force -Path $logDir | Out-Null
$stopWaitMs = ($ShutdownGraceSeconds + $StopMarginSeconds) * 1000
if ($Api) { $Instances = 1 }

for ($n = 1; $n -le $Instances; $n++) {
    $name = "$ServicePrefix-$n"
    $port = $MetricsPortBase + $n
    $workDir = Join-Path $DataDir "instance-$n"
    $parameters = "run --stage $Stages --metrics-port $port"
    $display = "leadworker $n"
    $about = "leadworker instance ${n}: RabbitMQ lead-generation worker (metrics on port $port)"
    if ($Api) {
        $name = "$ServicePrefix-api"
        $workDir = Join-Path $DataDir "api"
        $parameters = "api --port $ApiPort"
        $display = "leadworker API"
        $about = "leadworker HTTP API on port $ApiPort (/docs, /healthz, /readyz, /metrics)"
    }
    New-Item -ItemType Directory -Force -Path $workDir | Out-Null

    if (-not (Get-Service -Name $name -ErrorAction SilentlyContinue)) {
        Invoke-Nssm install $name $Leadworker
        Write-Host "installed $name"
    } else {
        Write-Host "updating $name"
    }
    Invoke-Nssm set $name Application $Leadworker
    Invoke-Nssm set $name AppParameters $parameters
    Invoke-Nssm set $name AppDirectory $workDir
    Invoke-Nssm set $name DisplayName $display
    Invoke-Nssm set $name Description $about
    Invoke-Nssm set $name Start SERVICE_DELAYED_AUTO_START
    Invoke-Nssm set $name AppEnvironmentExtra @environment

    # Graceful stop: Ctrl+C only (skip WM_CLOSE = 2 and WM_QUIT = 4), then wait before TerminateProcess.
    Invoke-Nssm set $name AppStopMethodSkip 6
    Invoke-Nssm set $name AppStopMethodConsole $stopWaitMs
    Invoke-Nssm set $name AppKillProcessTree 1   # Chromium dies with its worker

    # Logs: append, rotate daily and by size, also while running.
    Invoke-Nssm set $name AppStdout (Join-Path $logDir "$name.out.log")
    Invoke-Nssm set $name AppStderr (Join-Path $logDir "$name.log")
    Invoke-Nssm set $name AppStdoutCreationDisposition 4
    Invoke-Nssm set $name AppStderrCreationDisposition 4
    Invoke-Nssm set $name AppRotateFiles 1
    Invoke-Nssm set $name AppRotateOnline 1
    Invoke-Nssm set $name AppRotateSeconds 86400
    Invoke-Nssm set $name AppRotateBytes $RotateBytes

    # Restart whatever the exit code (3 = memory watchdog, 4 = stalled consumer, 1 = failure), after a delay;
    # a process that dies within AppThrottle ms of starting is restarted with increasing delays by NSSM.
    Invoke-Nssm set $name AppExit Default Restart
    Invoke-Nssm set $name AppRestartDelay $RestartDelayMs
    Invoke-Nssm set $name AppThrottle 10000

    if ($Account -like "NT AUTHORITY\*") {
        Invoke-Nssm set $name ObjectName $Account
    } else {
        if (-not $Password) { throw "-Account $Account needs -Password (Read-Host -AsSecureString)" }
        $plain = [Runtime.InteropServices.Marshal]::PtrToStringAuto(
            [Runtime.InteropServices.Marshal]::SecureStringToBSTR($Password))
        Invoke-Nssm set $name ObjectName $Account $plain
    }
    # The service account writes logs and its working directory, nothing else.
    & icacls $DataDir /grant "${Account}:(OI)(CI)M" /T /Q | Out-Null
    if ($LASTEXITCODE -ne 0) { throw "icacls could not grant $Account access to $DataDir" }

    if (-not $NoStart) {
        if ((Get-Service -Name $name).Status -eq "Running") {
            Invoke-Nssm restart $name   # picks up the new settings; the old process drains first
        } else {
            Invoke-Nssm start $name
        }
        Write-Host "started $name (metrics: http://localhost:$port/metrics, logs: $logDir\$name.log)"
    }
}
