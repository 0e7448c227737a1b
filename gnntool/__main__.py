"""`python -m gnntool` (also the entry point for `torchrun -m gnntool`)."""

from gnntool.cli import main

main()
