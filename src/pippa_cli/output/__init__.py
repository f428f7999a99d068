"""Everything pippa shows: data on stdout, progress/warnings/errors/questions on stderr.

Commands say what happened; this package decides how it looks, and is the only part of
pippa that imports rich (inside functions: `pippa --help` does not load it).

- `console`: `Output` (data, info, warnings, errors, a yes/no question, a table),
  `stderr_console`, `report_error`
- `stages`: `StageProgress`, the live stage-by-stage display of one job
- `batch_display`: `BatchProgress` and its `LineProgress` per job, the display of a batch
- `table`: the aligned table `Output.table` draws on a terminal
"""

from pippa_cli.output.batch_display import BatchProgress, LineProgress
from pippa_cli.output.console import Output, report_error, stderr_console
from pippa_cli.output.stages import StageProgress

__all__ = [
    "BatchProgress",
    "LineProgress",
    "Output",
    "StageProgress",
    "report_error",
    "stderr_console",
]
