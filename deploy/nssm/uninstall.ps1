<#
.SYNOPSIS
    Stop and remove the leadworker services that install.ps1 created (leadworker-1, leadworker-2, ...).

.DESCRIPTION
    Each service is stopped the way it was installed (console Ctrl+C, then NSSM waits for the drain), then
    removed. Logs under DataDir are kept unless -RemoveData is given.

.EXAMPLE
    .\uninstall.ps1                  # every leadworker-N service
    .\uninstall.ps1 -Instances 2     # leadworker-1 and leadworker-2 only
#>
[CmdletBinding()]
param(
    [int] $Instances = 0,
    [string] $Nssm = "nssm.exe",
    [string] $ServicePrefix = "leadworker",
    [string] $DataDir = "C:\ProgramData\leadworker",
    [switch] $RemoveData
)

Set-StrictMode -Version Latest
$ErrorActionPreference = "Stop"

if (-not (Get-Command $Nssm -ErrorAction SilentlyContinue)) {
    throw "nssm not found ($Nssm): pass -Nssm C:\path\nssm.exe"
}

if ($Instances -gt 0) {
    $names = 1..$Instances | ForEach-Object { "$ServicePrefix-$_" }
} else {
    # Every worker instance (<prefix>-N) and the HTTP API (<prefix>-api).
    $pattern = '^' + [regex]::Escape($ServicePrefix) + '-(\d+|api)$'
    $names = @(Get-Service -ErrorAction SilentlyContinue | Where-Object { $_.Name -match $pattern } |
               Sort-Object Name | ForEach-Object { $_.Name })
}

function Invoke-Nssm {
    param([Parameter(ValueFromRemainingArguments = $true)] [string[]] $Arguments)
    $ErrorActionPreference = "Continue"   # judge nssm by its exit code, not by its stderr
    $output = & $Nssm @Arguments 2>&1 | Out-String
    return @{ Code = $LASTEXITCODE; Output = $output.Trim() }
}

foreach ($name in $names) {
    $service = Get-Service -Name $name -ErrorAction SilentlyContinue
    if (-not $service) { Write-Host "$name is not installed"; continue }
    if ($service.Status -ne "Stopped") {
        # Graceful: Ctrl+C, then NSSM waits AppStopMethodConsole ms for the drain before it kills.
        $result = Invoke-Nssm stop $name
        if ($result.Code -ne 0) { Write-Warning "stopping ${name}: $($result.Output)" }
    }
    $result = Invoke-Nssm remove $name confirm
    if ($result.Code -ne 0) { throw "could not remove ${name}: $($result.Output)" }
    Write-Host "removed $name"
}

if ($RemoveData -and (Test-Path -LiteralPath $DataDir)) {
    Remove-Item -LiteralPath $DataDir -Recurse -Force
    Write-Host "removed $DataDir"
}
