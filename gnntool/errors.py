"""The one error type for mistakes a user can fix (config, files, data), and how a run stops on a signal."""

import signal


class UserError(Exception):
    """A mistake the user can fix; the CLI prints the message and exits with status 2."""


class Interrupted(Exception):
    """Training stopped on SIGINT (Ctrl-C) or SIGTERM after saving a checkpoint; the CLI exits with
    128 + the signal's number: 130 or 143."""

    def __init__(self, checkpoint: object, signum: int = signal.SIGINT) -> None:
        super().__init__(f"interrupted; checkpoint saved to {checkpoint} (continue with --resume)")
        self.checkpoint = checkpoint
        self.signum = signum


class Terminated(KeyboardInterrupt):
    """SIGTERM where no checkpoint can be saved (outside training, or a second one): stop at once.

    A KeyboardInterrupt, so that whatever cleans up after Ctrl-C cleans up after it too; exit 143.
    """
