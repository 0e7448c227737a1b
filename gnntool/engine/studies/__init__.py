"""`gnntool sweep` (`sweep.py`, a grid) and `gnntool tune` (`tune.py`, Optuna trials) over their shared
`study.py`: one run directory per point, trained with resume, and the results table."""
