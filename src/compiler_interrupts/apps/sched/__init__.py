"""The ``sched`` application: microsecond-scale preemption of LevelDB requests with green threads
whose CI handler yields (Concord-style), and a CPU-bound job that hosts the dataplane in its CI
handler (Shenango-style).  See ``run.py``."""
