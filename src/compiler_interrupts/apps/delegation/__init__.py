"""Delegation on a shared thread: the FFWD experiment with the server loop in a CI handler.

C sources (package data, built with ``ci-cc``):

* ``deleg.h`` / ``deleg.c`` -- the delegation library: one request cache line per client, one
  response line per group of 7 clients written once per batch, a polling server pass, a
  dedicated server loop, and a CI-handler entry point that serves on whatever thread hosts the
  server;
* ``locks.h`` -- the lock baselines (TTAS spinlock with exponential backoff, MCS queue lock);
* ``ds.h`` -- the protected structures (counter array with fetch-and-add, hash map, priority
  queue) as sequential code plus the functions that run them as critical sections;
* ``deleg_bench.c`` -- the benchmark driver (one process = one configuration).

``run.py`` builds the driver and sweeps variants, thread counts and critical-section sizes.
"""
