"""The one error type for mistakes a user can fix (config, files, data)."""


class UserError(Exception):
    """A mistake the user can fix; the CLI prints the message and exits with status 2."""


class Interrupted(Exception):
    """Training stopped on Ctrl-C after saving a checkpoint; the CLI exits with status 130."""

    def __init__(self, checkpoint: object) -> None:
        super().__init__(f"interrupted; checkpoint saved to {checkpoint} (continue with --resume)")
        self.checkpoint = checkpoint
