"""Reproducible samples (reviews of errors, label samples, train-vs-dev reviews): one seed
range, one way to draw a new seed, one order per seed."""

import hashlib
import random

# What the samples' bigint seed columns hold.
MAX_SEED = 2**63 - 1


class SeedOutOfRange(ValueError):
    """Each caller turns this into its own error (a field error, a sample error)."""


def seed_or_new(seed) -> int:
    """`seed` if it is a whole number a seed column holds; a new random seed for None."""
    if seed is None:
        return random.SystemRandom().randrange(1, 2**31)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise SeedOutOfRange(f"A whole number from 0 to {MAX_SEED}.")
    return seed


def sample_key(seed: int, key) -> bytes:
    """A fixed pseudo-random order per seed: sorting by it draws the same sample from the
    same data every time."""
    return hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest()
