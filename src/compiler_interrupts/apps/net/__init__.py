"""The net application: kernel-bypass HTTP (DPDK net_memif + lwIP) with the network stack
polled from a CI handler, vs a dedicated stack thread (mTCP's model), inline polling and Linux
sockets.  See run.py."""
