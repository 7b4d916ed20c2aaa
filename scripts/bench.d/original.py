#!/usr/bin/env python3
"""Drive the original docker_bridge.py the way a caller does, for scripts/bench.

Each subcommand imports the original module from --original, calls its
methods, times the calls in-process with time.perf_counter (so the Python
interpreter's own start-up is never counted against the original), and
prints one JSON object on stdout.

The original's cleanup_idle_containers selects containers with
`docker ps --filter name=luzia-`, which matches every luzia container on the
host. The reap subcommand narrows that one filter to the benchmark's own
name prefix, so that it never stops a container the benchmark did not
create; every other argument, and the number and order of docker calls, are
the original's.
"""

import argparse
import importlib.util
import json
import subprocess
import sys
import threading
import time


def load(path):
    spec = importlib.util.spec_from_file_location("docker_bridge", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def rm(name):
    subprocess.run(["docker", "rm", "-f", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def cmd_warm(mod, a):
    b = mod.DockerBridge(a.project, a.path)
    first = b.execute("true")
    if not first["success"]:
        return {"error": "execute failed: " + first["error"]}
    times = []
    for _ in range(a.runs):
        t0 = time.perf_counter()
        r = b.execute("true")
        times.append(time.perf_counter() - t0)
        if not r["success"]:
            return {"error": "execute failed: " + r["error"], "times": times}
    return {"times": times}


def cmd_cold(mod, a):
    times = []
    epoch = None
    for _ in range(a.runs):
        rm("luzia-" + a.project)
        b = mod.DockerBridge(a.project, a.path)
        epoch = time.time()
        t0 = time.perf_counter()
        r = b.execute("echo hi")
        times.append(time.perf_counter() - t0)
        if r["output"] != "hi\n":
            return {"error": "cold execute gave %r / %r" % (r["output"], r["error"]), "times": times}
    out = {"times": times}
    if a.epoch:
        out["t0"] = epoch  # wall clock at the last run's start, for a timeline
    return out


def cmd_write(mod, a):
    b = mod.DockerBridge(a.project, a.path)
    with open(a.src, encoding="utf-8") as f:
        content = f.read()  # the caller holds the content as a str
    t0 = time.perf_counter()
    r = b.write_file(a.dest, content)
    dt = time.perf_counter() - t0
    return {"times": [dt], "success": r["success"], "message": r.get("message", "")}


def cmd_read(mod, a):
    b = mod.DockerBridge(a.project, a.path)
    times = []
    size = 0
    for _ in range(a.runs):
        t0 = time.perf_counter()
        r = b.read_file(a.name)
        times.append(time.perf_counter() - t0)
        if not r["success"]:
            return {"error": "read_file failed: " + r.get("error", ""), "times": times}
        size = len(r["content"])
        del r
    return {"times": times, "chars": size}


def cmd_reap(mod, a):
    real_run = subprocess.run

    def narrowed(args, *rest, **kw):
        args = ["name=" + a.prefix if x == "name=luzia-" else x for x in args]
        return real_run(args, *rest, **kw)

    subprocess.run = narrowed
    t0 = time.perf_counter()
    mod.cleanup_idle_containers(timeout_minutes=0)
    return {"times": [time.perf_counter() - t0]}


def cmd_create(mod, a):
    errors = []

    def one(project):
        try:
            mod.DockerBridge(project, a.path).ensure_running()
        except Exception as e:  # reported, not raised: the harness decides
            errors.append("%s: %s" % (project, e))

    threads = [threading.Thread(target=one, args=(p,)) for p in a.projects.split(",")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"errors": errors}


def cmd_concurrent(mod, a):
    barrier = threading.Barrier(a.n)
    results = [None] * a.n

    def one(i):
        b = mod.DockerBridge(a.project, a.path)
        barrier.wait()
        try:
            r = b.execute("echo ok")
            results[i] = "ok" if r["success"] and r["output"] == "ok\n" else "failed: " + (r["error"] or r["output"]).strip()[:200]
        except Exception as e:
            results[i] = "raised: " + str(e).strip()[:200]

    threads = [threading.Thread(target=one, args=(i,)) for i in range(a.n)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {"times": [wall], "successes": sum(r == "ok" for r in results), "results": results}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--original", required=True)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("warm", "cold", "write", "read", "concurrent", "create"):
        s = sub.add_parser(name)
        s.add_argument("--path", required=True)
        if name == "create":
            s.add_argument("--projects", required=True)
        else:
            s.add_argument("--project", required=True)
        s.add_argument("--runs", type=int, default=1)
        if name == "write":
            s.add_argument("--src", required=True)
            s.add_argument("--dest", required=True)
        if name == "read":
            s.add_argument("--name", required=True)
        if name == "concurrent":
            s.add_argument("--n", type=int, default=8)
        if name == "cold":
            s.add_argument("--epoch", action="store_true")
    s = sub.add_parser("reap")
    s.add_argument("--prefix", required=True)
    a = p.parse_args()
    mod = load(a.original)
    out = globals()["cmd_" + a.cmd](mod, a)
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 1 if "error" in out else 0


if __name__ == "__main__":
    sys.exit(main())
