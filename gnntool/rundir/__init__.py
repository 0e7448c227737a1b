"""The run directory on disk, torch-free: its file names and seed folders, atomic writes and the
model file format (`layout.py`), and the one-writer lock (`lock.py`). Everything that writes a
run's files (the engine, the exporters, the CLI) writes through here."""
