"""Print the requirements an extra of a built wheel asks for on another Python, one a line.

``pip install --python-version X.Y`` picks wheels for X.Y but evaluates environment markers
against the Python that runs pip, so ``mxnet; python_version < "3.13"`` would be judged for
this interpreter, not for X.Y. This evaluates the wheel's ``Requires-Dist`` markers for X.Y
(and the extra) and prints the requirements that apply, without their markers, for pip.
Usage: python extra_requirements.py WHEEL EXTRA X.Y
"""
import sys
import zipfile

from packaging.requirements import Requirement

wheel, extra, version = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z:
    name = next(n for n in z.namelist() if n.endswith('.dist-info/METADATA'))
    lines = z.read(name).decode().splitlines()
env = {'extra': extra, 'python_version': version, 'python_full_version': version + '.0'}
for line in lines:
    if not line.startswith('Requires-Dist:'):
        continue
    req = Requirement(line.split(':', 1)[1].strip())
    if req.marker is not None and 'extra' in str(req.marker) and req.marker.evaluate(env):
        req.marker = None
        print(req)
