# Sphinx configuration of the site `make docs` builds (tools/docs.py stages the pages and runs
# Sphinx with this file). MyST reads the Markdown pages, MyST-NB the notebooks, which it never
# executes: their outputs are those of make reproduce (or make test, in short mode).
# Everything a page loads is in the site itself (the theme's assets, MathJax), so that it
# builds without network and reads offline.
import re
from pathlib import Path

_setup = (Path(__file__).resolve().parent.parent / 'setup.py').read_text(encoding='utf-8')

project = 'd2l-recsys'
author = 'the d2l-recsys authors'
release = version = re.search(r'version="([^"]+)"', _setup).group(1)
copyright = 'the d2l-recsys authors; the chapter\'s text and code: Dive into Deep Learning'

extensions = [
    'myst_nb',
    'sphinx-mathjax-offline',   # MathJax 3 copied into the site instead of a CDN
]
exclude_patterns = ['**.ipynb_checkpoints']

# MyST: the notebooks' and pages' LaTeX ($...$, $$...$$), anchors for the pages' headings.
myst_enable_extensions = ['dollarmath', 'amsmath']
myst_heading_anchors = 3

# MyST-NB: never execute; no widget scripts from a CDN; figures as the notebooks hold them.
nb_execution_mode = 'off'
nb_ipywidgets_js = {}
nb_merge_streams = True

html_theme = 'sphinx_book_theme'
html_title = 'd2l-recsys'
html_theme_options = {
    'home_page_in_toc': True,
    'show_toc_level': 2,
    'use_download_button': True,
}
html_last_updated_fmt = None
