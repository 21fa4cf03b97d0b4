"""Check what ``pip install --dry-run --report`` chose: ``NAME==VERSION`` (prefix) or ``!NAME``.

Usage: python check_report.py REPORT.json 'mxnet==1.9.1' 'numpy==1.26' setuptools '!torch' ...
(``NAME`` alone: chosen, any version).
Prints the chosen versions of the named packages; exits 1, naming the package, on a mismatch.
"""
import json
import sys

with open(sys.argv[1]) as f:
    chosen = {i['metadata']['name'].lower(): i['metadata']['version']
              for i in json.load(f)['install']}
bad = []
for want in sys.argv[2:]:
    if want.startswith('!'):
        if want[1:] in chosen:
            bad.append(f'{want[1:]} {chosen[want[1:]]} chosen, expected none')
        continue
    name, _, version = want.partition('==')
    got = chosen.get(name)
    if got is None or not (not version or got == version or got.startswith(version + '.')):
        bad.append(f'{name}: expected {version}, got {got}')
names = [w.lstrip('!').split('==')[0] for w in sys.argv[2:]]
print('  ' + ', '.join(f'{n} {chosen.get(n, "-")}' for n in names) + f' ({len(chosen)} packages)')
if bad:
    sys.exit('resolved set: ' + '; '.join(bad))
