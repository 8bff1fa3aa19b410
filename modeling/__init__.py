import os

# One OpenMP thread per process unless told otherwise. Scoring one application is ~0.1 ms of
# work; waking a thread team per call doubled the median (0.42 -> 0.82 ms measured) and made the
# tail depend on every other process on the machine. Web and Celery scale out with processes.
# Training passes nthread explicitly and still uses every core it asks for.
os.environ.setdefault("OMP_NUM_THREADS", "1")
