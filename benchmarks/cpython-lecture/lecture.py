"""The lecture's CPU example as a student writes it: six SHA-512 hash chains, computed in a
for loop, in a ThreadPoolExecutor(3) or in a ProcessPoolExecutor(3).

    python3 lecture.py sequential|threads|processes [iterations]

It prints each password's final digest, then the wall time of the work alone (after the
imports; the process pool's start-up and shutdown are inside it). compare.py runs it beside
conclab's cpython_* models: this file is the yardstick, so it stays the plain lesson code.
"""

import hashlib
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

PASSWORDS = ["pass", "passwd", "MyPassw", "MyPasswd123", "p", "a"]  # experiments/cpu-bound.toml


def hash_chain(password, iterations):
    h = password.encode()
    for _ in range(iterations):
        h = hashlib.sha512(h).hexdigest().encode()
    return h.decode()


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "sequential"
    iterations = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    counts = [iterations] * len(PASSWORDS)

    start = time.perf_counter()
    if mode == "sequential":
        digests = []
        for password in PASSWORDS:
            digests.append(hash_chain(password, iterations))
    elif mode == "threads":
        with ThreadPoolExecutor(max_workers=3) as pool:
            digests = list(pool.map(hash_chain, PASSWORDS, counts))
    elif mode == "processes":
        with ProcessPoolExecutor(max_workers=3) as pool:
            digests = list(pool.map(hash_chain, PASSWORDS, counts))
    else:
        sys.exit("unknown mode %r: sequential, threads or processes" % mode)
    took = time.perf_counter() - start

    for password, digest in zip(PASSWORDS, digests):
        print(password, digest)
    print("%s took %.6f s" % (mode, took))


if __name__ == "__main__":
    main()
