"""The worker process: the composition root and what runs beside it.

- :mod:`~leadworker.worker.root`: :class:`Worker` builds the stages of the stage table, owns one broker
  connection at a time and drains gracefully;
- :mod:`~leadworker.worker.watchers`: liveness, the database probe, the memory watchdog, idle exit,
  maintenance and the stages' periodic work;
- :mod:`~leadworker.worker.signals`: SIGTERM/SIGINT/SIGBREAK;
- :mod:`~leadworker.worker.entry`: ``leadworker run`` (signals, the service machinery of
  :mod:`leadworker.ops.service`, the frozen heap);
- :mod:`~leadworker.worker.exit_codes`: what a supervisor reads from the exit status.
"""

from leadworker.worker.entry import main_sync, run_worker
from leadworker.worker.exit_codes import EXIT_FAILURE, EXIT_MEMORY, EXIT_OK, EXIT_STALLED
from leadworker.worker.root import AVAILABLE_STAGES, PIPELINE_ORDER, Worker
from leadworker.worker.signals import install_stop_handlers

__all__ = [
    "AVAILABLE_STAGES",
    "EXIT_FAILURE",
    "EXIT_MEMORY",
    "EXIT_OK",
    "EXIT_STALLED",
    "PIPELINE_ORDER",
    "Worker",
    "install_stop_handlers",
    "main_sync",
    "run_worker",
]
