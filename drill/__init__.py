"""The fleet drill (`make drill`): the README's "Many machines" setup under real faults.

It builds, on this machine and on free loopback ports only, what the README tells a user to
build: a PostgreSQL cluster (Debian's server package, installed when missing), a Prefect
server on it, the metrics store in it, two worker "hosts" each running from its own `git clone`
of this repository (sharing this virtual environment), `automation pool setup` and
`prefect deploy --all`. It runs every catalog job once, then injects the faults: a worker
SIGKILLed with its run mid-scan, a run claimed (Pending) by a worker that died before starting
it (given back while the dead host's scan is waited for), the database stopped for 20 s
during a collection, four
hosts' monitors writing at once, a run past its time limit under a worker, and a healthy run
longer than Prefect's default heartbeat on workers started with default settings. It prints
one table of expected against observed and `drill: N checks, M passed`, exits 0 only when all
pass, and stops everything it started, also on Ctrl-C or failure.

Modules: `infra` (processes, the cluster, the server, clones and workers), `prefect_view`
(what the server says about runs, slots and workers), `scenarios` (the checks), `run` (the
order and the report).
"""
