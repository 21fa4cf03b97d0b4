"""Tiny MovieLens-shaped data for the models/training/CLI tests (no download needed).

Ratings come from a low-rank model plus noise, so a model that learns beats the global mean.
"""
import os

import numpy as onp
import pandas as pd


def ratings(num_users=40, num_items=30, density=0.5, rank=2, seed=0):
    """DataFrame user_id, item_id, rating (1..5), timestamp like u.data; ids run 1..N and
    every user and item has at least one rating (the book's seq-aware split needs that)."""
    rng = onp.random.RandomState(seed)
    p = rng.normal(0, 1, (num_users, rank))
    q = rng.normal(0, 1, (num_items, rank))
    bu, bi = rng.normal(0, 0.5, num_users), rng.normal(0, 0.5, num_items)
    truth = 3.2 + p @ q.T + bu[:, None] + bi[None, :]
    mask = rng.uniform(size=(num_users, num_items)) < density
    mask[onp.arange(num_users), rng.randint(0, num_items, num_users)] = True
    mask[rng.randint(0, num_users, num_items), onp.arange(num_items)] = True
    users, items = onp.nonzero(mask)
    noisy = truth[users, items] + rng.normal(0, 0.3, len(users))
    r = onp.clip(onp.rint(noisy), 1, 5).astype(onp.int64)
    order = rng.permutation(len(users))
    ts = 874000000 + rng.permutation(len(users)) * 60
    return pd.DataFrame({'user_id': users[order] + 1, 'item_id': items[order] + 1,
                         'rating': r[order], 'timestamp': ts})


def write_ml100k(folder, titles=True, **kwargs):
    """Write ``u.data`` (and ``u.item`` with made-up titles) into ``folder``; return it."""
    df = ratings(**kwargs)
    os.makedirs(folder, exist_ok=True)
    df.to_csv(os.path.join(folder, 'u.data'), sep='\t', header=False, index=False)
    if titles:
        num_items = int(df.item_id.max())
        with open(os.path.join(folder, 'u.item'), 'w', encoding='latin-1') as f:
            for i in range(1, num_items + 1):
                f.write(f'{i}|Movie {i} (1995)|01-Jan-1995||http://x|0|0|1|0|0|0|0|0|0|0|0|0'
                        f'|0|0|0|0|0|0|0\n')
    return str(folder)
