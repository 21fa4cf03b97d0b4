"""Shared fixtures: a small synthetic MovieLens-like data set, and the real ML-100K if cached.

``synthetic_ratings`` / ``synthetic_dir``: 30 users x 40 items in the u.data layout, made here
(no network, seconds): every user rates 6-15 items, every item is rated, ratings 1..5, all
timestamps distinct. ``real_data_dir``: the checked real ML-100K folder (``$D2L_RECSYS_DATA``
or the cache that ``make data`` fills); tests using it skip when it is absent.
"""
import functools
import http.server
import importlib.util
import os
import threading

import numpy as onp
import pandas as pd
import pytest

os.environ.setdefault('MPLBACKEND', 'Agg')

try:   # before any test module imports mxnet: the NumPy names MXNet 1.9.1 reads
    import d2l_recsys.compat  # noqa: F401
    NO_MXNET = None
except ImportError as e:   # no MXNet tab here (NumPy 2, Python 3.13, MXNet absent)
    NO_MXNET = str(e)
# For tests in framework-free modules that need the MXNet tab (modules of the tab itself skip
# with pytest.importorskip('d2l_recsys.mxnet')).
needs_mxnet = pytest.mark.skipif(NO_MXNET is not None, reason=NO_MXNET or '')

# d2l 1.0.3, the book's own package, is what the oracle tests compare with; the package runs
# without it. Where it is not installed those tests skip, the rest of their modules run.
NO_D2L = "needs d2l 1.0.3, the book's package (pip install --no-deps d2l==1.0.3)"
needs_d2l = pytest.mark.skipif(importlib.util.find_spec('d2l') is None, reason=NO_D2L)


def book_d2l():
    """d2l's MXNet module (``from d2l import mxnet as d2l``), or None where d2l is absent."""
    if importlib.util.find_spec('d2l') is None:
        return None
    from d2l import mxnet as d2l
    return d2l


def docs_tool():
    """tools/docs.py (the site, the README's table of notebooks), loaded as a module."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    spec = importlib.util.spec_from_file_location('docs_tool',
                                                  os.path.join(root, 'tools', 'docs.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SYNTH_USERS, SYNTH_ITEMS = 30, 40


def make_ratings(num_users=SYNTH_USERS, num_items=SYNTH_ITEMS, seed=0,
                 per_user=(6, 15), distinct_times=True):
    """A u.data-like DataFrame (user_id, item_id, rating, timestamp) in a shuffled file order.

    Every user rates ``per_user`` items (no pair twice), every item gets rated, ids run
    1..N, timestamps are distinct unless ``distinct_times=False`` (then many ties).
    """
    rng = onp.random.RandomState(seed)
    pairs = set()
    for u in range(1, num_users + 1):
        k = rng.randint(per_user[0], per_user[1] + 1)
        pairs.update((u, int(i)) for i in rng.choice(num_items, k, replace=False) + 1)
    for i in range(1, num_items + 1):   # every item rated at least once
        if not any(p[1] == i for p in pairs):
            pairs.add((int(rng.randint(1, num_users + 1)), i))
    pairs = sorted(pairs)
    rng.shuffle(pairs)
    n = len(pairs)
    if distinct_times:
        times = 880_000_000 + rng.permutation(n) * 97
    else:
        times = 880_000_000 + rng.randint(0, 4, n) * 1000
    return pd.DataFrame({'user_id': [p[0] for p in pairs], 'item_id': [p[1] for p in pairs],
                         'rating': rng.randint(1, 6, n), 'timestamp': times}).astype('int64')


def write_u_data(folder, data):
    """Write a ratings DataFrame as ``folder/u.data`` (tab-separated, no header)."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, 'u.data')
    data.to_csv(path, sep='\t', header=False, index=False)
    return path


@pytest.fixture(scope='session')
def synthetic_ratings():
    return make_ratings()


@pytest.fixture(scope='session')
def synthetic_dir(tmp_path_factory, synthetic_ratings):
    folder = str(tmp_path_factory.mktemp('synthetic-ml'))
    write_u_data(folder, synthetic_ratings)
    with open(os.path.join(folder, 'u.item'), 'w', encoding='latin-1') as f:
        for i in range(1, SYNTH_ITEMS + 1):
            f.write(f'{i}|Movie {i} (199{i % 10})|01-Jan-199{i % 10}||' + '|0' * 19 + '\n')
    return folder


@pytest.fixture(scope='session')
def real_data_dir():
    """The real MovieLens 100K folder, checked; skip when ``make data`` has not provided it."""
    from d2l_recsys import fetch
    try:
        if os.environ.get(fetch.ENV_DATA):
            return fetch.ml100k_dir(log=None)
        folder = fetch._from_cache(fetch.cache_root(), lambda *args: None)
    except (ValueError, OSError) as e:
        pytest.skip(f'real ML-100K unusable: {e}')
    if folder is None:
        pytest.skip('real ML-100K not in the cache; run `make data`')
    return folder


def pytest_addoption(parser):
    parser.addoption('--browser', action='store_true',
                     help='also run the real-browser test of the notebooks in JupyterLab '
                          '(tests/test_browser.py; make browser-test)')


def pytest_collection_modifyitems(config, items):
    if config.getoption('--browser'):
        return
    skip = pytest.mark.skip(reason='real-browser test: run with --browser (make browser-test)')
    for item in items:
        if 'browser' in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def server(tmp_path):
    """A local HTTP server of ``tmp_path/www``: ``(folder, base URL)`` (the network sources'
    stand-in)."""
    root = tmp_path / 'www'
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f'http://127.0.0.1:{httpd.server_address[1]}'
    httpd.shutdown()
    httpd.server_close()


def own_cache(tmp_path, monkeypatch):
    """The test's own data cache, and no data folder given by the environment (ML-100K's or
    the book's click data): what an autouse ``isolated`` fixture calls."""
    from d2l_recsys import fetch, hub
    monkeypatch.setenv(fetch.ENV_CACHE, str(tmp_path / 'cache'))
    monkeypatch.delenv(fetch.ENV_DATA, raising=False)
    monkeypatch.delenv(hub.ENV_CTR, raising=False)
