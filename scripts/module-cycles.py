#!/usr/bin/env python3
"""Import cycles among one crate's source files.

Reads every .rs file under SRC, resolves the paths it uses (`crate::`,
`super::`, `self::`, and names of the modules it declares, in `use` lines,
code and doc links) to the module files they name, and prints the strongly
connected components of that graph with more than one module. A unit-test
file (`foo_tests.rs`, a `tests` module) counts as part of the module it
tests. DEPTH folds modules to their first DEPTH path segments (1: the
crate's top-level modules).

    scripts/module-cycles.py client/src [DEPTH] [-v]
"""
import os, re, sys

root = sys.argv[1]
args = [a for a in sys.argv[2:] if not a.startswith('-')]
depth = int(args[0]) if args else 99
verbose = '-v' in sys.argv

def modpath(path):
    rel = os.path.relpath(path, root)[:-3].split(os.sep)
    if rel[-1] in ('mod', 'lib', 'main'):
        rel = rel[:-1]
    if rel and rel[-1].endswith('_tests'):
        rel[-1] = rel[-1][:-6]
    if rel and rel[-1] == 'tests':
        rel = rel[:-1]
    return tuple(rel)

files = [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.endswith('.rs')]
mods = {modpath(f) for f in files}

def key(parts):
    return '::'.join(parts[:depth]) if parts else '(root)'

def expand(prefix, body):
    """`a::{b, c::{d}}` -> [a::b, a::c::d] (roughly)."""
    out = []
    depth_ = 0; cur = ''; items = []
    for ch in body:
        if ch == '{': depth_ += 1
        if ch == '}': depth_ -= 1
        if ch == ',' and depth_ == 0:
            items.append(cur); cur = ''
        else:
            cur += ch
    items.append(cur)
    for it in items:
        it = it.strip()
        if not it: continue
        m = re.match(r'^((?:\w+::)*)\{(.*)\}$', it, re.S)
        if m:
            out += expand(prefix + m.group(1), m.group(2))
        else:
            out.append(prefix + it.split(' as ')[0].strip())
    return out

edges = {}
for f in files:
    here = modpath(f)
    is_dir_mod = os.path.basename(f) in ('mod.rs', 'lib.rs', 'main.rs')
    # The module a relative path starts from: for a `foo_tests.rs` or
    # `tests` file, its parent module.
    text = open(f).read()
    # In an inline test module, `super` is this file's module.
    m = re.search(r'#\[cfg\(test\)\]\s*mod\s+\w+\s*\{', text)
    if m:
        text = text[:m.start()] + text[m.start():].replace('super::', 'self::')
    children = set(re.findall(r'^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;', text, re.M))
    paths = []
    for m in re.finditer(r'\buse\s+([^;]+);', text):
        body = m.group(1).strip()
        mm = re.match(r'^((?:\w+::)*)\{(.*)\}$', body, re.S)
        paths += expand(mm.group(1), mm.group(2)) if mm else [body.split(' as ')[0]]
    paths += re.findall(r'\b((?:crate|super|self)(?:::\w+)+)', text)
    src = key(here)
    for p in paths:
        parts = [x for x in p.split('::') if x]
        if not parts: continue
        if parts[0] == 'crate':
            base, rest = (), parts[1:]
        elif parts[0] in ('super', 'self'):
            base = list(here)
            # in a test file `super` is the tested module itself
            test_file = os.path.basename(f).endswith('_tests.rs') or os.path.basename(f) == 'tests.rs'
            rest = parts
            while rest and rest[0] in ('super', 'self'):
                if rest[0] == 'super' and not test_file:
                    base = base[:-1]
                test_file = False
                rest = rest[1:]
            base = tuple(base)
        elif parts[0] in children:
            base, rest = here, parts
        else:
            continue
        full = tuple(base) + tuple(rest)
        best = None
        for i in range(len(full), -1, -1):
            if full[:i] in mods:
                best = full[:i]; break
        if best is None: continue
        dst = key(best)
        if dst != src:
            edges.setdefault(src, set()).add(dst)

nodes = sorted({key(modpath(f)) for f in files})
index, low, stack, on, sccs, c = {}, {}, [], set(), [], [0]
sys.setrecursionlimit(10000)
def strong(v):
    index[v] = low[v] = c[0]; c[0] += 1; stack.append(v); on.add(v)
    for w in sorted(edges.get(v, ())):
        if w not in index:
            strong(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v: break
        sccs.append(comp)
for v in nodes:
    if v not in index: strong(v)
big = sorted((sorted(s) for s in sccs if len(s) > 1), key=len, reverse=True)
print(f"{len(nodes)} modules; {len(big)} cycle(s)" + (f", largest {len(big[0])}" if big else ""))
for s in big:
    print(f"  cycle of {len(s)}: {', '.join(s)}")
if verbose:
    for s in sorted(edges):
        print(s, '->', ', '.join(sorted(edges[s])))
sys.exit(1 if big else 0)
