"""`gnntool tune --workers N`: N worker processes of one study on this machine.

Each worker is `python -m gnntool tune ...` with the parent's arguments (the same gnntool, first
on its PYTHONPATH), in its own process group so that a Ctrl-C or SIGTERM reaches it once, through
the parent; its stdout (a results table) is dropped and its stderr comes back line by line,
prefixed `[worker I]`, so that each writes plain lines rather than progress bars.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import gnntool
from gnntool import log

FORWARDED = (signal.SIGINT, signal.SIGTERM)


def run_workers(args: Sequence[str], count: int) -> int:
    """Run `count` processes of `gnntool tune ARGS` until they all end; return 0, or the signal's
    128 + number if this process was asked to stop, else the first non-zero worker status."""
    env = dict(os.environ)
    package_root = str(Path(gnntool.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "gnntool", "tune", *args]
    processes = [
        subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, process_group=0
        )
        for _ in range(count)
    ]
    pumps = [
        threading.Thread(target=_relay, args=(process.stderr, f"[worker {index}] "), daemon=True)
        for index, process in enumerate(processes)
    ]
    for pump in pumps:
        pump.start()
    received: list[int] = []

    def forward(signum: int, frame: Any) -> None:
        received.append(signum)
        for process in processes:
            if process.poll() is None:
                process.send_signal(signum)

    main = threading.current_thread() is threading.main_thread()  # signals reach the main thread only
    previous = {signum: signal.signal(signum, forward) for signum in FORWARDED} if main else {}
    try:
        codes = [process.wait() for process in processes]
    finally:
        for signum, action in previous.items():
            signal.signal(signum, action)
        for pump in pumps:
            pump.join()
    if received:
        return 128 + received[0]
    for index, code in enumerate(codes):
        if code:
            status = 128 - code if code < 0 else code  # killed by a signal: as a shell reports it
            log.error(f"tune: worker {index} exited with status {status}")
            return status
    return 0


def _relay(stream: IO[str], prefix: str) -> None:
    for line in stream:
        log.console.print(prefix + line.rstrip("\n"), markup=False, highlight=False)
