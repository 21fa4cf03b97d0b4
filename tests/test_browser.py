"""The MF notebooks as a student meets them: `make lab`, a real browser, Run All Cells; and the
site `make docs` built, as a reader meets it.

For each tab's MF notebook that exists (``03-mf-mxnet.ipynb``, and ``03-mf-pytorch.ipynb`` where
PyTorch is installed): starts JupyterLab exactly as the README says (``make lab``, from the
repository root), bound to 127.0.0.1 on a free port with a token; opens the notebook in Chromium
(Debian's, driven by Playwright's Python package); runs all cells from the Run menu; waits until
every code cell has run and the kernel is idle; then checks what the page shows:

* no output is an error or a warning (Jupyter renders both as stderr output);
* the training cell's output holds a figure (an ``img`` or ``svg``), the live training curve;
* the notebook files on disk are unchanged (nothing is saved).

Short mode (``D2L_RECSYS_SHORT=1``, 2 epochs) keeps each well under a minute after start-up.
Screenshots of the notebook after the run and the server's log go to
``build/browser-test/<notebook>/``.

The site (``build/docs/html``, which ``make browser-test`` builds first) is served from
127.0.0.1; the MXNet MF notebook's page must show its training cell's figure, loaded, with its
formulas typeset and a note saying which run its outputs come from, the front page must show
the README's figure and list every notebook, and neither may ask for anything from another
host. Screenshots go to ``build/browser-test/site/``.

Only with ``pytest --browser`` (``make browser-test``, ``.ci/browser``): it needs Chromium at
``/usr/bin/chromium`` (``apt-get install chromium``) and ``playwright`` in the venv. The
server's settings come from a temporary Jupyter config folder, so the user's own
``~/.jupyter`` and environment (``MPLBACKEND`` included) cannot change the outcome; only what
``make lab`` itself sets reaches the kernel.
"""
import functools
import glob
import hashlib
import http.server
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from conftest import docs_tool

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NB_DIR = os.path.join(ROOT, 'notebooks')
SHOTS = os.path.join(ROOT, 'build', 'browser-test')
CHROMIUM = '/usr/bin/chromium'
# Flags that let Chromium run headless as root in a container without network.
CHROMIUM_ARGS = ['--disable-gpu', '--disable-quic', '--no-first-run',
                 '--disable-background-networking', '--disable-component-update',
                 '--disable-sync']
# Each tab's MF notebook and its training cell (the one that builds the trainer and calls the
# training loop).
NOTEBOOKS = {'03-mf-mxnet.ipynb': 'gluon.Trainer(', '03-mf-pytorch.ipynb': 'torch.optim.Adam('}
START_TIMEOUT, RUN_TIMEOUT = 90, 150   # seconds

# JupyterLab settings for the run: every cell stays in the page (no windowing), nothing is
# saved behind the test's back, and no news prompt covers the notebook.
LAB_SETTINGS = {
    '@jupyterlab/notebook-extension/tracker': {'windowingMode': 'none'},
    '@jupyterlab/docmanager-extension/plugin': {'autosave': False},
    '@jupyterlab/apputils-extension/notification': {'fetchNews': 'false'},
}

pytestmark = pytest.mark.browser


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def folder_digest(folder):
    """{relative path: sha256} of every file under ``folder``, except JupyterLab's own
    checkpoint copies (``.ipynb_checkpoints/``, git-ignored), which opening a notebook makes."""
    digest = {}
    for base, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d != '.ipynb_checkpoints']
        for name in files:
            path = os.path.join(base, name)
            with open(path, 'rb') as f:
                digest[os.path.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()
    return digest


def lab_environment(tmp_path, port, token, data_dir):
    """The environment ``make lab`` gets: the test's own, less anything that could change a
    notebook's behaviour, plus a private Jupyter config that fixes address, port and token."""
    env = {k: v for k, v in os.environ.items()
           if k != 'MPLBACKEND' and not k.startswith(('D2L_RECSYS_', 'JUPYTER', 'MAKE'))}
    config = tmp_path / 'jupyter-config'
    config.mkdir()
    (config / 'jupyter_server_config.json').write_text(json.dumps({
        'ServerApp': {'ip': '127.0.0.1', 'port': port, 'port_retries': 0,
                      'open_browser': False, 'allow_root': True},
        'IdentityProvider': {'token': token},
    }))
    settings = tmp_path / 'lab-settings'
    for plugin, values in LAB_SETTINGS.items():
        path = settings / (plugin + '.jupyterlab-settings')
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env.update(
        D2L_RECSYS_SHORT='1', D2L_RECSYS_DATA=str(data_dir),
        JUPYTER_CONFIG_DIR=str(config), JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / 'lab-workspaces'),
        JUPYTER_RUNTIME_DIR=str(tmp_path / 'jupyter-runtime'),
        IPYTHONDIR=str(tmp_path / 'ipython'))
    return env


def wait_for_server(url, proc, log_path):
    deadline = time.time() + START_TIMEOUT
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f'make lab exited with {proc.returncode}:\n'
                        + open(log_path).read()[-3000:])
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    pytest.fail(f'JupyterLab did not answer within {START_TIMEOUT} s:\n'
                + open(log_path).read()[-3000:])


def stop(proc):
    """Stop ``make lab`` and the server it started (one process group, started here)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


# Every code cell as the page shows it: its source, its prompt and its outputs.
READ_CELLS = """cells => cells.map(c => ({
    source: c.querySelector('.jp-InputArea-editor').innerText,
    prompt: c.querySelector('.jp-InputPrompt').textContent.trim(),
    outputs: [...c.querySelectorAll('.jp-OutputArea-output')].map(o => ({
        mime: o.dataset.mimeType || '', text: o.innerText.slice(0, 2000),
        figures: o.querySelectorAll('img, svg').length}))}))"""
# The kernel is connected and idle (the status bar says so, not only the toolbar).
KERNEL_IDLE = """() => {
    const status = document.querySelector('.jp-Notebook-ExecutionIndicator');
    const bar = document.querySelector('#jp-main-statusbar');
    return status !== null && status.dataset.status === 'idle' && bar !== null
        && /\\|\\s*Idle/.test(bar.innerText);
}"""
# Some code cell has started ("[*]:") or run ("[n]:").
STARTED = """() => [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')]
    .some(e => /^\\[(\\*|\\d+)\\]:$/.test(e.textContent.trim()))"""
# Every code cell has run (prompt "[n]:") and the kernel is idle.
ALL_RUN = """() => {
    const status = document.querySelector('.jp-Notebook-ExecutionIndicator');
    const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')]
        .map(e => e.textContent.trim());
    return status !== null && status.dataset.status === 'idle' && prompts.length > 0
        && prompts.every(t => /^\\[\\d+\\]:$/.test(t));
}"""


def run_all_cells(page):
    """Run > Run All Cells once the kernel is connected and idle. A click made while the
    kernel is still connecting runs nothing, so it is repeated until a cell starts."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    deadline = time.time() + START_TIMEOUT
    while True:
        page.wait_for_function(KERNEL_IDLE, timeout=START_TIMEOUT * 1000, polling=250)
        page.get_by_role('menuitem', name='Run', exact=True).click()
        page.get_by_role('menuitem', name='Run All Cells', exact=True).click()
        try:
            page.wait_for_function(STARTED, timeout=10_000, polling=250)
            return
        except PlaywrightTimeout:
            if time.time() > deadline:
                raise


@pytest.mark.parametrize('notebook', sorted(NOTEBOOKS))
def test_mf_notebook_runs_in_jupyterlab_with_its_figure(notebook, tmp_path, real_data_dir):
    if notebook == '03-mf-pytorch.ipynb':
        pytest.importorskip('torch')
    training_cell, shots = NOTEBOOKS[notebook], os.path.join(SHOTS, notebook[:-len('.ipynb')])
    try:   # asked for with --browser: a missing piece is a failure, not a skip
        from playwright import sync_api as playwright
    except ImportError:
        pytest.fail('playwright is not installed: make browser-test installs it')
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f'{CHROMIUM} not found: apt-get install -y chromium (see .ci/browser)')
    port, token = free_port(), secrets.token_hex(16)
    env = lab_environment(tmp_path, port, token, real_data_dir)
    before = folder_digest(NB_DIR)
    log_path = tmp_path / 'lab.log'
    with open(log_path, 'w') as log:
        proc = subprocess.Popen(['make', 'lab'], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_server(f'http://127.0.0.1:{port}/api/status?token={token}', proc, log_path)
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch_persistent_context(
                str(tmp_path / 'chromium-profile'), executable_path=CHROMIUM, headless=True,
                chromium_sandbox=False, args=CHROMIUM_ARGS,
                viewport={'width': 1280, 'height': 1000})
            try:
                page = browser.new_page()
                page.goto(f'http://127.0.0.1:{port}/lab/tree/{notebook}?token={token}')
                page.wait_for_selector('.jp-Notebook .jp-CodeCell', timeout=START_TIMEOUT * 1000)
                run_all_cells(page)
                try:
                    page.wait_for_function(ALL_RUN, timeout=RUN_TIMEOUT * 1000, polling=500)
                finally:
                    shoot(page, shots, training_cell)
                cells = page.eval_on_selector_all('.jp-Notebook .jp-CodeCell', READ_CELLS)
            finally:
                browser.close()
    finally:
        stop(proc)
        os.makedirs(shots, exist_ok=True)
        shutil.copy(log_path, os.path.join(shots, 'lab.log'))

    shown = '\n'.join(f'{c["prompt"]} {c["source"][:70]!r}: '
                      + '; '.join(f'{o["mime"]} {o["text"][:200]!r}' for o in c['outputs'])
                      for c in cells)
    problems = [f'{c["prompt"]} {o["text"]}' for c in cells for o in c['outputs']
                if o['mime'] in ('application/vnd.jupyter.stderr',
                                 'application/vnd.jupyter.error')]
    assert not problems, 'errors or warnings in the page:\n' + '\n'.join(problems)
    training = [c for c in cells if training_cell in c['source']]
    assert len(training) == 1, f'expected one training cell ({training_cell}):\n{shown}'
    assert any(o['figures'] for o in training[0]['outputs']), (
        'the training cell shows no figure (is MPLBACKEND reaching the kernel?):\n' + shown)
    assert 'test RMSE' in ' '.join(o['text'] for o in training[0]['outputs']), shown
    assert folder_digest(NB_DIR) == before, 'the run changed files in notebooks/'


def shoot(page, shots, training_cell):
    """Screenshots of the notebook after the run (or when it timed out) into ``shots``: the
    page as it is, the page at the training cell, and every code cell that shows a figure."""
    shutil.rmtree(shots, ignore_errors=True)
    os.makedirs(shots)
    page.screenshot(path=os.path.join(shots, 'end.png'))
    cells = page.locator('.jp-Notebook .jp-CodeCell')
    for k in range(cells.count()):
        cell = cells.nth(k)
        if training_cell in cell.locator('.jp-InputArea-editor').inner_text():
            outputs = cell.locator('.jp-OutputArea')
            (outputs if outputs.count() else cell).scroll_into_view_if_needed()
            page.screenshot(path=os.path.join(shots, 'training.png'))
        if cell.locator('.jp-OutputArea-output img, .jp-OutputArea-output svg').count():
            cell.screenshot(path=os.path.join(shots, f'cell-{k + 1:02d}.png'))


# ------------------------------------------------------------------------------ the site
SITE = os.path.join(ROOT, 'build', 'docs', 'html')


@pytest.fixture(scope='module')
def site():
    """The site make docs built, served on 127.0.0.1 (a free port): its address."""
    if not os.path.isfile(os.path.join(SITE, 'index.html')):
        pytest.fail('build/docs/html/index.html is not there: run make docs '
                    '(make browser-test does)')

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass
    server = http.server.ThreadingHTTPServer(
        ('127.0.0.1', 0), functools.partial(Handler, directory=SITE))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f'http://127.0.0.1:{server.server_address[1]}'
    finally:
        server.shutdown()
        server.server_close()


def open_page(url, shot, check):
    """Open ``url`` in Chromium, wait until it has loaded, return ``check(page)`` and the
    addresses of other hosts the page asked for; screenshot (full page) to ``shot``."""
    try:
        from playwright import sync_api as playwright
    except ImportError:
        pytest.fail('playwright is not installed: make browser-test installs it')
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f'{CHROMIUM} not found: apt-get install -y chromium (see .ci/browser)')
    base = url.split('/', 3)[:3]
    elsewhere = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    chromium_sandbox=False, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={'width': 1280, 'height': 1000})
            page.on('request', lambda r: r.url.split('/', 3)[:3] != base
                    and not r.url.startswith('data:') and elsewhere.append(r.url))
            page.goto(url, wait_until='load')
            page.wait_for_load_state('networkidle')
            result = check(page)
            os.makedirs(os.path.dirname(shot), exist_ok=True)
            page.screenshot(path=shot, full_page=True)
        finally:
            browser.close()
    return result, elsewhere


# The training cell's figures, as the page shows them: every <img> in its output, whether it
# loaded and how wide it is; and how many formulas MathJax typeset.
SITE_CELLS = """marker => {
    const cells = [...document.querySelectorAll('div.cell')].filter(
        c => c.querySelector('.cell_input') &&
             c.querySelector('.cell_input').innerText.includes(marker));
    return {cells: cells.length,
            images: cells.flatMap(c => [...c.querySelectorAll('.cell_output img')].map(
                i => ({src: i.getAttribute('src'), complete: i.complete,
                       width: i.naturalWidth}))),
            formulas: document.querySelectorAll('mjx-container').length,
            note: (document.querySelector('.d2l-recsys-run') || {innerText: ''}).innerText};
}"""


def test_site_mf_page_shows_its_training_figure(site):
    docs = docs_tool()

    def mxnet_mf(path):
        return docs.section(os.path.splitext(os.path.basename(path))[0])[1:] == ('mf', 'MXNet')
    pages = [os.path.relpath(p, SITE)
             for p in glob.glob(os.path.join(SITE, 'notebooks', '*.html')) if mxnet_mf(p)]
    assert len(pages) == 1, f'the MXNet MF notebook has no single page in the site: {pages}'
    training_cell = next(cell for name, cell in NOTEBOOKS.items() if mxnet_mf(name))
    shown, elsewhere = open_page(
        f'{site}/{pages[0]}', os.path.join(SHOTS, 'site', 'mf.png'),
        lambda page: (page.wait_for_function("document.querySelector('mjx-container')",
                                             timeout=30_000),
                      page.evaluate(SITE_CELLS, training_cell))[1])
    assert shown['cells'] == 1, shown
    assert shown['images'] and all(i['complete'] and i['width'] > 0 for i in shown['images']), (
        f'the training cell shows no loaded figure (was the site built from an executed run?): '
        f'{shown}')
    assert shown['formulas'] > 0, 'MathJax typeset no formula'
    # The note says which run the outputs come from (make reproduce's, or make test's).
    assert shown['note'].startswith('Outputs on this page') and 'Run by make' in shown['note'], \
        shown['note']
    assert not elsewhere, f'the page asked other hosts for: {elsewhere}'


def test_site_front_page_shows_the_readme_figure_and_lists_every_notebook(site):
    notebooks = sorted(os.path.basename(p)[:-len('.ipynb')]
                       for p in glob.glob(os.path.join(NB_DIR, '*.ipynb')))
    shown, elsewhere = open_page(f'{site}/index.html', os.path.join(SHOTS, 'site', 'index.png'),
                                 lambda page: page.evaluate("""() => ({
        figures: [...document.querySelectorAll('article img')].map(
            i => ({src: i.getAttribute('src'), width: i.naturalWidth})),
        sidebar: [...document.querySelectorAll('nav.bd-links a')].map(
            a => a.getAttribute('href'))})"""))
    readme = [f for f in shown['figures'] if 'book_experiments' in f['src']]
    assert len(readme) == 1 and readme[0]['width'] > 0, shown['figures']
    listed = sorted(h.split('/')[-1][:-len('.html')] for h in shown['sidebar']
                    if h.startswith('notebooks/'))
    assert listed == notebooks, shown['sidebar']
    assert any(h.startswith('docs/') for h in shown['sidebar']), shown['sidebar']
    assert not elsewhere, f'the front page asked other hosts for: {elsewhere}'
