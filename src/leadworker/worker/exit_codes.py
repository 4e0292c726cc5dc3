"""The exit codes of ``leadworker run``, which supervisors (systemd, NSSM, ``--processes``) act on."""

EXIT_OK = 0
EXIT_FAILURE = 1
"""Could not start (bad settings, topology mismatch, metrics port taken)."""
EXIT_MEMORY = 3
"""The memory watchdog drained the worker: the supervisor should start a fresh one."""
EXIT_STALLED = 4
"""A consumer stopped receiving although its queue has messages, and could not be recovered."""
