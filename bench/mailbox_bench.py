#!/usr/bin/env python3
"""bench/mailbox_bench.py - the mailbox index at 100,000 messages: first build, login
(open + refresh of an unchanged folder), a flag change, an append, the refresh another
session does after one change and after a delivery, and a full rescan after a change
made behind the index's back. Runs lib/mailbox/mailbox_bench from the build tree;
prints figures, asserts nothing.

Usage: BUILD_DIR=/path/to/build bench/mailbox_bench.py [messages]   (default 100000)
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402


def main():
    build = os.environ.get("BUILD_DIR")
    if not build:
        sys.exit("bench: set BUILD_DIR to a built Postilion tree")
    prog = os.path.join(build, "lib", "mailbox", "mailbox_bench")
    if not os.access(prog, os.X_OK):
        sys.exit("bench: %s not built (make -C %s/lib/mailbox mailbox_bench)" % (prog, build))
    count = sys.argv[1] if len(sys.argv) > 1 else "100000"
    root = benchlib.scratch()
    try:
        benchlib.log("mailbox index: %s messages" % count)
        out = subprocess.run([prog, count, os.path.join(root, "Maildir")], stdout=subprocess.PIPE,
                             text=True, check=True).stdout
        for line in out.splitlines():
            benchlib.log("  " + line)
    finally:
        subprocess.run(["rm", "-rf", root])


if __name__ == "__main__":
    main()
