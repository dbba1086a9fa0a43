#!/usr/bin/env python3
"""Finds import circles between the files of a Rust crate, from its `use` lines and the
`crate::`/`super::`/`self::` paths in its code (comments and strings left out).

    scripts/import_circles.py proxy/src loadgen/src   # exit 1 when any crate has a circle
    scripts/import_circles.py --self-test             # checks this checker on small crates

A file's module is its path (`a/b.rs` and `a/b/mod.rs` are `a::b`; `lib.rs` and `main.rs` the
root). A path names the file of its longest prefix that is a module, so `crate::kafka::Metadata`
points at `kafka/mod.rs` (where it is re-exported) and `super::error::Error` at `error.rs` beside
the file. `mod` declarations are not edges: a parent owning a child is not a dependency on it.
Circles are the strongly connected components of more than one file. The same is then asked of
the crate's top-level modules (`kafka`, `formats`, ...), each standing for all its files, so
that two modules cannot lean on each other through files that do not form a circle themselves
(`kafka/a.rs -> formats/b.rs`, `formats/c.rs -> kafka/d.rs`). This is an approximation
of the compiler's view (macros and glob imports are read as written), good enough to keep the
dependency direction from rotting; the test command runs it on every crate.
"""

import os
import re
import sys
import tempfile

COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
STRING = re.compile(r'r(#*)".*?"\1|b?"(?:\\.|[^"\\])*"', re.S)
CHAR = re.compile(r"b?'(?:\\.|[^'\\])'")
USE = re.compile(r"\buse\s+([^;]+);")
PATH = re.compile(r"\b((?:crate|super|self)(?:\s*::\s*(?:super\b|\w+))*)")


def module_of(rel):
    """The module path (a tuple) of a file relative to the crate's src."""
    parts = rel[:-3].split(os.sep)
    if parts[-1] == "mod":
        parts = parts[:-1]
    if parts in (["lib"], ["main"]):
        return ()
    return tuple(parts)


def modules(src):
    """{module path: file} for every .rs file under src (binaries under bin/ are crates of
    their own and are left out)."""
    found = {}
    for root, _, files in os.walk(src):
        for name in files:
            if not name.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(root, name), src)
            if rel.split(os.sep)[0] == "bin":
                continue
            found.setdefault(module_of(rel), rel)
    return found


def expand(tree):
    """Paths of a `use` tree: `a::{b, c::{d, e}}` gives a::b, a::c::d, a::c::e."""
    tree = re.sub(r"\s+", "", tree)
    depth, start, prefix = 0, None, None
    for i, ch in enumerate(tree):
        if ch == "{":
            if depth == 0:
                start, prefix = i, tree[:i]
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                inner, rest = tree[start + 1 : i], tree[i + 1 :]
                out = []
                for item in split_top(inner):
                    for sub in expand(item):
                        joined = prefix + sub if sub != "self" else prefix.rstrip(":")
                        out.append(joined + rest)
                return out
    return [tree.split(" as ")[0]]


def split_top(text):
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    if cur:
        parts.append(cur)
    return [p for p in parts if p]


def resolve(path, here, known):
    """The module a `crate::`/`super::`/`self::` path points into, or None."""
    segs = [s for s in re.split(r"\s*::\s*", path) if s]
    if not segs:
        return None
    if segs[0] == "crate":
        base, segs = (), segs[1:]
    elif segs[0] in ("super", "self"):
        base = here
        while segs and segs[0] in ("super", "self"):
            if segs[0] == "super":
                if not base:
                    return None
                base = base[:-1]
            segs = segs[1:]
    else:
        return None
    best = base if base in known else None
    for n in range(1, len(segs) + 1):
        candidate = base + tuple(segs[:n])
        if candidate in known:
            best = candidate
    return best


def edges(src):
    known = modules(src)
    graph = {}
    for module, rel in known.items():
        with open(os.path.join(src, rel), encoding="utf-8") as f:
            code = f.read()
        code = COMMENT.sub(" ", STRING.sub('""', CHAR.sub("' '", code)))
        targets = set()
        paths = []
        for m in USE.finditer(code):
            paths.extend(expand(m.group(1)))
        paths.extend(m.group(1) for m in PATH.finditer(USE.sub(" ", code)))
        for p in paths:
            target = resolve(p, module, known)
            if target is not None and target != module:
                targets.add(target)
        graph[module] = targets
    return known, graph


def circles(graph):
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    component.append(m)
                    if m == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def top_level(graph):
    """The graph between top-level modules: `a::b` and `a::c` both stand for `a`."""
    tops = {}
    for module, targets in graph.items():
        if not module:
            continue
        edges_out = tops.setdefault(module[:1], set())
        edges_out.update(t[:1] for t in targets if t and t[:1] != module[:1])
    return tops


def check(src):
    known, graph = edges(src)
    between = circles(top_level(graph))
    for component in between:
        names = ", ".join("::".join(m) for m in component)
        print(f"{src}: circle between top-level modules: {names}")
    found = circles(graph)
    for component in found:
        files = [known[m] for m in component]
        print(f"{src}: circle through {len(files)} files: {', '.join(files)}")
        for m in component:
            inside = sorted(known[t] for t in graph[m] if t in component)
            print(f"    {known[m]} -> {', '.join(inside)}")
    largest = max((len(c) for c in found), default=0)
    print(
        f"{src}: {len(found)} circles, largest {largest} files; "
        f"{len(between)} circles between top-level modules"
    )
    return not found and not between


def self_test():
    crates = {
        "clean": {
            "lib.rs": "pub mod a;\npub mod b;\n",
            "a/mod.rs": "mod inner;\npub use inner::X;\n",
            "a/inner.rs": "use crate::b::Y; // use crate::a::X;\npub struct X(Y);\n",
            "b.rs": 'pub struct Y;\nconst S: &str = "crate::a::X";\n',
        },
        "circle": {
            "lib.rs": "pub mod a;\npub mod b;\n",
            "a.rs": "use crate::{b::Y, a as _};\npub struct X;\n",
            "b.rs": "pub struct Y;\nfn f() -> super::a::X { crate::a::X }\n",
        },
        "nested": {
            "lib.rs": "pub mod k;\n",
            "k/mod.rs": "mod p;\nmod q;\n",
            "k/p.rs": "use super::q::{self, Q};\npub struct P;\n",
            "k/q.rs": "pub struct Q(super::p::P);\n",
        },
        "modules": {
            "lib.rs": "pub mod k;\npub mod f;\n",
            "k/mod.rs": "mod a;\nmod d;\n",
            "k/a.rs": "use crate::f::b::B;\n",
            "k/d.rs": "pub struct D;\n",
            "f/mod.rs": "pub mod b;\nmod c;\n",
            "f/b.rs": "pub struct B;\n",
            "f/c.rs": "use crate::k::d::D;\n",
        },
    }
    expected = {
        "clean": ([], []),
        "circle": ([[("a",), ("b",)]], [[("a",), ("b",)]]),
        "nested": ([[("k", "p"), ("k", "q")]], []),
        "modules": ([], [[("f",), ("k",)]]),
    }
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for name, files in crates.items():
            for rel, text in files.items():
                path = os.path.join(tmp, name, rel)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w", encoding="utf-8") as f:
                    f.write(text)
            graph = edges(os.path.join(tmp, name))[1]
            got = (circles(graph), circles(top_level(graph)))
            if got != expected[name]:
                print(f"self-test {name}: expected {expected[name]}, got {got}")
                ok = False
    print("self-test:", "ok" if ok else "FAILED")
    return ok


def main(args):
    if args == ["--self-test"]:
        return 0 if self_test() else 1
    if not args:
        print(__doc__)
        return 2
    results = [check(src) for src in args]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
