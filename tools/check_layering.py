#!/usr/bin/python3
"""Checks the #include lines under src/ against the boxes of src/README.md: dependencies
point down, front doors never reach into storage/ or each other, and the folders that must
stay free of Asio do.

  tools/check_layering.py [--src DIR]    report every include that breaks a rule (exit 1)
  tools/check_layering.py --self-check   prove the checker catches a wrong include
"""

import argparse
import os
import re
import sys
import tempfile

# Which of our folders each folder may include (its own always allowed). The longest
# matching prefix of a file's path decides its box.
ALLOWED = {
    "base": set(),
    "storage": {"base"},
    "net": {"base"},
    "auth": {"base"},
    "broker": {"storage", "net", "base"},
    "kafka/protocol": {"base"},
    "kafka": {"kafka/protocol", "auth", "broker", "net", "base"},
    "http": {"auth", "broker", "net", "base"},
    "cli": {"kafka/protocol", "base"},
    "app": {"cli", "kafka", "kafka/protocol", "http", "auth", "broker", "storage", "net", "base"},
}

# Boxes whose files must not see Asio (slow to compile, and no sockets belong there).
NO_ASIO = ("base", "storage", "kafka/protocol", "cli", "auth")
# Boxes whose public headers must not expose Asio (DESIGN: the core is not tied to it).
NO_ASIO_IN_HEADERS = ("broker",)
# ...except the coroutine type its asynchronous calls return.
HEADER_ASIO_ALLOWED = ("net/task.h",)
ASIO = re.compile(r"^(boost/asio|boost/beast|net/asio\.h|net/)")

# Includes that break a rule and are on their way out: a new violation fails, and an
# entry here that no longer occurs fails too, so the list only shrinks. (Empty: keep it so.)
KNOWN: set = set()

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def box_of(rel):
    best = None
    for box in ALLOWED:
        if rel == box or rel.startswith(box + "/"):
            if best is None or len(box) > len(best):
                best = box
    return best


def check(src):
    """Returns (violations, stale known entries)."""
    found, seen_known = [], set()
    for root, _, files in os.walk(src):
        for name in sorted(files):
            if not name.endswith((".h", ".cc")):
                continue
            path = os.path.join(root, name)
            rel = os.path.relpath(path, src).replace(os.sep, "/")
            box = box_of(rel)
            if box is None:
                continue
            with open(path, encoding="utf-8", errors="replace") as f:
                for lineno, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    target = m.group(2)
                    problems = []
                    if m.group(1) == '"':
                        tbox = box_of(target)
                        if tbox and tbox != box and tbox not in ALLOWED[box]:
                            problems.append(f"{box}/ may not include {tbox}/")
                    if ASIO.match(target):
                        if box in NO_ASIO:
                            problems.append(f"{box}/ must stay free of Asio and net/")
                        elif (box in NO_ASIO_IN_HEADERS and name.endswith(".h") and
                              target not in HEADER_ASIO_ALLOWED):
                            problems.append(f"{box}/ headers must not expose Asio or net/")
                    if not problems:
                        continue
                    key = next((k for k in KNOWN if k[0] == rel and target.startswith(k[1])),
                               None)
                    if key:
                        seen_known.add(key)
                        continue
                    found.append(f"src/{rel}:{lineno}: includes {target}: {problems[0]}")
    return found, sorted(KNOWN - seen_known)


def self_check():
    with tempfile.TemporaryDirectory() as tmp:
        def write(rel, text):
            os.makedirs(os.path.dirname(os.path.join(tmp, rel)), exist_ok=True)
            with open(os.path.join(tmp, rel), "w") as f:
                f.write(text)
        write("storage/log.h", '#include "base/file.h"\n')
        write("base/file.h", "#include <vector>\n")
        clean, _ = check(tmp)
        if clean:
            print("self-check: a clean tree was reported:", clean)
            return 1
        cases = {
            "base/bad.h": '#include "storage/log.h"\n',        # points up
            "http/bad.cc": '#include "kafka/server/x.h"\n',    # across front doors
            "storage/bad.cc": "#include <boost/asio.hpp>\n",  # Asio where none belongs
            "kafka/handlers/bad.cc": '#include "storage/log.h"\n',
        }
        for rel, text in cases.items():
            write(rel, text)
            found, _ = check(tmp)
            os.remove(os.path.join(tmp, rel))
            if not any(f"src/{rel}:" in v for v in found):
                print(f"self-check: the wrong include in {rel} was not caught")
                return 1
    print(f"self-check: {len(cases)} wrong includes caught, a clean tree passes")
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", default=os.path.join(os.path.dirname(__file__), "..", "src"))
    ap.add_argument("--self-check", action="store_true")
    args = ap.parse_args()
    if args.self_check:
        return self_check()
    found, stale = check(args.src)
    for v in found:
        print(v)
    for rel, target in stale:
        print(f"src/{rel}: no longer includes {target}: remove it from KNOWN in {__file__}")
    if found or stale:
        print("layering: see the boxes in src/README.md", file=sys.stderr)
        return 1
    print(f"layering: every include follows src/README.md ({len(KNOWN)} known exceptions left)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
