"""The process a run trains in: the device (`device.py`), torchrun/DDP ranks (`distributed.py`),
torch's thread count (`threads.py`), and memory: glibc's allocator (`allocator.py`) and the
sampled loader's reused gather buffers (`buffers.py`)."""
