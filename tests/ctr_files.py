"""Generated click files in the book's ``ctr`` format, and MovieLens-shaped side files.

``write_ctr``: lines of a 0/1 label and ``num_feat`` tab-separated categorical values (the
book's advertising data has 34), drawn so that some values are rare (below ``CTRDataset``'s
``min_threshold`` of 4) and the label depends on a few fields (a model can learn it); a few
malformed lines (too few or too many fields) that the book's reader skips. ``write_side_files``:
``u.user`` and ``u.item`` for a ``u.data`` of ``tests/synthetic.py``.
"""
import os

import numpy as onp

OCCUPATIONS = ('administrator', 'artist', 'doctor', 'educator', 'engineer', 'student',
               'writer', 'other', 'none', 'programmer')
GENRES = 19


def ctr_lines(n, num_feat=34, seed=0, malformed=True):
    """``n`` well-formed lines (strings, no newline) and, with ``malformed``, a few others."""
    rng = onp.random.RandomState(seed)
    sizes = rng.randint(2, 40, num_feat)
    cols = []
    for j, k in enumerate(sizes):
        p = 1.0 / onp.arange(1, k + 1) ** 1.2     # Zipf-like: a head of common values, rare tail
        cols.append(rng.choice(k, n, p=p / p.sum()))
    cols = onp.stack(cols, axis=1)
    logit = 0.8 * (cols[:, 0] % 3 == 0) - 0.7 * (cols[:, 1] % 2 == 1) + 0.5 * (cols[:, 2] < 3)
    labels = (rng.uniform(size=n) < 1 / (1 + onp.exp(-(logit - 0.2)))).astype(int)
    lines = [f'{y}\t' + '\t'.join(f'{chr(97 + j % 26)}{v:x}' for j, v in enumerate(row))
             for y, row in zip(labels, cols)]
    if malformed:
        lines.insert(3, '1\t' + '\t'.join(['x'] * (num_feat - 1)))          # one field short
        lines.insert(len(lines) // 2, '0\t' + '\t'.join(['y'] * (num_feat + 1)))   # one more
    return lines


def write_ctr(path, n, num_feat=34, seed=0, malformed=True):
    os.makedirs(os.path.dirname(str(path)) or '.', exist_ok=True)
    with open(path, 'w') as f:
        f.write('\n'.join(ctr_lines(n, num_feat, seed, malformed)) + '\n')
    return str(path)


def write_ctr_folder(folder, n_train=600, n_test=150, num_feat=34, seed=0):
    """A folder like the book's ``ctr`` data: ``train.csv`` and ``test.csv``."""
    os.makedirs(folder, exist_ok=True)
    write_ctr(os.path.join(folder, 'train.csv'), n_train, num_feat, seed)
    write_ctr(os.path.join(folder, 'test.csv'), n_test, num_feat, seed + 1)
    return str(folder)


def write_side_files(folder, num_users, num_items, seed=0):
    """``u.user`` (GroupLens' layout) and ``u.item`` (24 fields, a year in each title) for
    users 1..num_users and items 1..num_items."""
    rng = onp.random.RandomState(seed)
    with open(os.path.join(folder, 'u.user'), 'w') as f:
        for u in range(1, num_users + 1):
            zip_code = f'{rng.randint(0, 100000):05d}' if u % 7 else 'T8H1N'
            f.write(f'{u}|{rng.randint(15, 70)}|{"MF"[u % 2]}|'
                    f'{OCCUPATIONS[u % len(OCCUPATIONS)]}|{zip_code}\n')
    with open(os.path.join(folder, 'u.item'), 'w', encoding='latin-1') as f:
        for i in range(1, num_items + 1):
            flags = ['0'] * GENRES
            for g in rng.choice(GENRES, rng.randint(1, 3), replace=False):
                flags[g] = '1'
            title = f'Movie {i} ({1990 + i % 7})' if i % 11 else 'unknown'
            f.write(f'{i}|{title}|01-Jan-1995||http://x|' + '|'.join(flags) + '\n')
    return str(folder)
