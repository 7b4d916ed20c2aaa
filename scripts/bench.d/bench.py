#!/usr/bin/env python3
"""The benchmark harness behind scripts/bench.

It measures dockerbridge against raw docker (the floor no wrapper can beat)
and against the Python original, in one run, and writes BENCHMARKS.md and
BENCHMARKS.json. Machines are noisy, so every figure is a median, and every
comparison is a ratio of medians taken in the same run; the commands being
compared are measured in alternating rounds, so that a change in the
machine's load falls on both sides.

Whole commands are timed with hyperfine (--export-json); peak memory comes
from /usr/bin/time -v; docker invocations are counted by a wrapper `docker`
that logs each call and then execs the real one. The Python original is
driven by original.py, which calls its methods as a caller would.

Every container the benchmark creates is named luzia-bench-<run id>-*, and
all of them are removed at the end, on an error, and on SIGINT or SIGTERM.
"""

import argparse
import concurrent.futures
import datetime
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# Sizes and repetitions. --quick keeps every row but makes each smaller, so
# that the whole run stays under two minutes; its figures check the harness,
# not the tool.
FULL = dict(
    warm_rounds=3, warm_runs=8,
    tmux_rounds=3, tmux_runs=5,
    idle_trials=5, idle_lines=30, idle="1s", interval="250ms",
    io_mb=200, io_runs=3, rss_runs=2, py_io_runs=1,
    cold_rounds=5,
    conc_rounds=3, conc_n=8,
    scale=(1, 10, 50), scale_exec_runs=8, scale_reap_runs=(3, 3, 2),
    reap_n=20, reap_runs=3, py_reap_runs=1, py_own_n=5,
    go_benchtime="1s", go_engine_benchtime="10x", timelines=True, scale_rounds=2,
    fleet_rounds=3, fleet_runs=8,
    egress_mb=100, egress_rounds=3, egress_runs=3,
)
QUICK = dict(
    warm_rounds=1, warm_runs=3,
    tmux_rounds=1, tmux_runs=2,
    idle_trials=1, idle_lines=15, idle="500ms", interval="250ms",
    io_mb=8, io_runs=1, rss_runs=1, py_io_runs=1,
    cold_rounds=1,
    conc_rounds=1, conc_n=8,
    scale=(1, 2, 3), scale_exec_runs=1, scale_reap_runs=(1, 1, 1),
    reap_n=3, reap_runs=1, py_reap_runs=1, py_own_n=0,
    go_benchtime="20x", go_engine_benchtime=None, timelines=False, scale_rounds=1,
    fleet_rounds=1, fleet_runs=2,
    egress_mb=8, egress_rounds=1, egress_runs=1,
)

# Rows and figures every run produces, in order; the harness test checks
# BENCHMARKS.json against this list.
LAYOUT = [
    ("overhead", ["own_cost"]),
    ("warm_exec", ["time"]),
    ("cold_start", ["time"]),
    ("write", ["time", "peak_rss"]),
    ("read", ["time", "peak_rss"]),
    ("reap", ["time", "docker_calls"]),
    ("concurrent_cold", ["successes", "time"]),
    ("tmux_run", ["time"]),
    ("tmux_state", ["time"]),
    ("tmux_wait_idle", ["delay", "polls_per_second"]),
    ("scale", ["exec_n0", "exec_n1", "exec_n2", "reap_n0", "reap_n1", "reap_n2"]),
    ("fleet", ["ps", "reap"]),
    ("egress", ["http", "connect"]),
]


class BenchError(Exception):
    pass


def median(xs):
    return statistics.median(xs) if xs else None


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt_time(s):
    if s is None:
        return "–"
    if s >= 10:
        return "%.1f s" % s
    if s >= 1:
        return "%.2f s" % s
    return "%.0f ms" % (s * 1000) if s >= 0.01 else "%.1f ms" % (s * 1000)


# What the Python columns and targets say when no original is given.
NO_ORIGINAL = "original not given"


def fmt_ratio(r):
    return "–" if r is None else "%.2f×" % r


class Bench:
    def __init__(self, a):
        self.a = a
        self.cfg = QUICK if a.quick else FULL
        self.mode = "quick" if a.quick else "full"
        self.root = a.root
        self.bin = a.bin
        self.tmp = a.tmp
        self.run_id = a.run_id
        self.prefix = "luzia-bench-%s-" % self.run_id
        self.ws = os.path.join(self.tmp, "ws")
        os.makedirs(self.ws, exist_ok=True)
        # The container user (the project uid, or 1000) writes here.
        os.chmod(self.ws, 0o777)
        os.makedirs(os.path.join(self.tmp, "state"), exist_ok=True)
        os.environ["DOCKERBRIDGE_STATE_DIR"] = os.path.join(self.tmp, "state")
        os.environ.pop("DOCKERBRIDGE_PROJECT", None)
        os.environ.pop("DOCKERBRIDGE_DOCKER", None)
        self.docker = shutil.which("docker")
        if not self.docker:
            raise BenchError("docker not found on PATH")
        # The Python original is not part of the repository: only a path the
        # caller gives is used.
        self.original = os.path.abspath(a.original) if a.original else None
        if self.original and not os.path.isfile(self.original):
            raise BenchError("the Python original %s is not a file" % a.original)
        self.logf = open(os.path.join(self.tmp, "bench.log"), "a")
        self.rows = []
        self.gobench = []
        self.cpu = {}  # hyperfine's user + system time per command, per round
        self.own_cost = self.own_cpu = 0.0
        self.counter = 0
        self.wrap_dir = os.path.join(self.tmp, "wrap")
        self.wrap_log = os.path.join(self.tmp, "docker-calls.log")
        os.makedirs(self.wrap_dir, exist_ok=True)
        with open(os.path.join(self.wrap_dir, "docker"), "w") as f:
            # One line per call: the wrapper script in an exec's argv
            # has line breaks of its own.
            f.write("#!/bin/bash\n# Log the call, then run the real docker.\n"
                    "printf '%%s\\n' \"${*//$'\\n'/ }\" >>%s\nexec %s \"$@\"\n" % (shlex.quote(self.wrap_log), shlex.quote(self.docker)))
        os.chmod(os.path.join(self.wrap_dir, "docker"), 0o755)
        self.wrapper = os.path.join(self.wrap_dir, "docker")
        # The timing wrapper waits for docker instead of becoming it, to log
        # when each call ended; it is used only for the untimed timelines.
        self.time_dir = os.path.join(self.tmp, "timewrap")
        self.time_log = os.path.join(self.tmp, "docker-times.log")
        os.makedirs(self.time_dir, exist_ok=True)
        with open(os.path.join(self.time_dir, "docker"), "w") as f:
            f.write("#!/bin/bash\ns=$EPOCHREALTIME\n%s \"$@\"\nrc=$?\n"
                    "printf '%%s %%s %%s %%s\\n' \"$s\" \"$EPOCHREALTIME\" \"$rc\" \"${*//$'\\n'/ }\" >>%s\nexit $rc\n"
                    % (shlex.quote(self.docker), shlex.quote(self.time_log)))
        os.chmod(os.path.join(self.time_dir, "docker"), 0o755)
        self.timer = os.path.join(self.time_dir, "docker")
        self.started = datetime.datetime.now(datetime.timezone.utc)
        self.load_start = os.getloadavg()
        self.t0 = time.monotonic()

    # ---- helpers -------------------------------------------------------

    def say(self, msg):
        el = time.monotonic() - self.t0
        line = "bench [%5.1fs] %s" % (el, msg)
        print(line, file=sys.stderr, flush=True)
        self.logf.write(line + "\n")
        self.logf.flush()

    def project(self, suffix):
        return "bench-%s-%s" % (self.run_id, suffix)

    def cname(self, suffix):
        return "luzia-" + self.project(suffix)

    def db(self, suffix, *args, docker=None, json_out=False):
        argv = [self.bin, "-p", self.project(suffix), "--path", self.ws]
        if docker:
            argv += ["--docker", docker]
        if json_out:
            argv.append("--json")
        return argv + list(args)

    def run(self, argv, check=True, capture=False, env=None, timeout=600, stdin=None):
        self.logf.write("+ %s\n" % shlex.join(argv))
        self.logf.flush()
        p = subprocess.run(argv, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                           stdout=subprocess.PIPE if capture else self.logf,
                           stderr=subprocess.PIPE if capture else self.logf,
                           env=env, timeout=timeout, text=capture)
        if capture:
            self.logf.write(p.stderr or "")
        if check and p.returncode != 0:
            tail = (p.stderr or "").strip()[-400:] if capture else "see %s" % self.logf.name
            raise BenchError("%s exited %d: %s" % (shlex.join(argv[:6]), p.returncode, tail))
        return p

    def rm(self, names):
        if names:
            self.run([self.docker, "rm", "-f"] + list(names), check=False)

    def ours(self, all_=True):
        p = self.run([self.docker, "ps"] + (["-a"] if all_ else []) + ["--format", "{{.Names}}"], capture=True)
        return [n for n in p.stdout.split() if n.startswith(self.prefix)]

    def cleanup(self):
        names = self.ours()
        if names:
            self.say("removing %d containers" % len(names))
            self.rm(names)
        p = self.run([self.docker, "network", "ls", "--format", "{{.Name}}"], capture=True, check=False)
        nets = [n for n in (p.stdout or "").split() if n.startswith(self.prefix)]
        if nets:
            self.run([self.docker, "network", "rm"] + nets, check=False)

    def script(self, name, body):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + body + "\n")
        os.chmod(path, 0o755)
        return path

    def hyperfine(self, cmds, runs, rounds=1, shell=False, prepare=None, offset=0):
        """Time cmds ([(name, command)]) with hyperfine, in rounds that
        rotate their order (starting offset places in), and pool each
        command's run times (seconds)."""
        times = {n: [] for n, _ in cmds}
        for r in range(rounds):
            k = (r + offset) % len(cmds)
            order = cmds[k:] + cmds[:k]
            self.counter += 1
            out = os.path.join(self.tmp, "hyperfine-%d.json" % self.counter)
            argv = ["hyperfine", "--style", "basic", "--export-json", out, "-r", str(runs)]
            if not shell:
                argv.append("-N")
            if prepare:
                for n, _ in order:
                    argv += ["--prepare", prepare.get(n) or "true"]
            for n, c in order:
                argv += ["-n", n, c]
            self.run(argv)
            with open(out) as f:
                for res in json.load(f)["results"]:
                    times[res["command"]] += res["times"]
                    self.cpu.setdefault(res["command"], []).append(res["user"] + res["system"])
        return times

    def timed_rss(self, argv, stdin_path=None, stdout_null=True, own=False):
        """Run argv under /usr/bin/time -v; return (wall seconds, peak RSS in
        MB of the largest process in its tree, and with own=True the peak of
        argv's own process alone, from its VmHWM)."""
        out = os.path.join(self.tmp, "time-v.txt")
        full = ["/usr/bin/time", "-v", "-o", out] + argv
        self.logf.write("+ %s\n" % shlex.join(full))
        self.logf.flush()
        stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
        stdout = subprocess.DEVNULL if stdout_null else subprocess.PIPE
        t0 = time.perf_counter()
        p = subprocess.Popen(full, stdin=stdin, stdout=stdout, stderr=self.logf)
        hwm = 0
        child = None
        while p.poll() is None:
            if own:
                try:
                    if child is None:
                        with open("/proc/%d/task/%d/children" % (p.pid, p.pid)) as f:
                            kids = f.read().split()
                        child = int(kids[0]) if kids else None
                    if child is not None:
                        with open("/proc/%d/status" % child) as f:
                            m = re.search(r"VmHWM:\s+(\d+) kB", f.read())
                        if m:
                            hwm = max(hwm, int(m.group(1)))
                except (OSError, ValueError):
                    pass
            time.sleep(0.01)
        wall = time.perf_counter() - t0
        if stdin_path:
            stdin.close()
        if p.returncode != 0:
            raise BenchError("%s exited %d" % (shlex.join(argv[:6]), p.returncode))
        with open(out) as f:
            text = f.read()
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
        tree = int(m.group(1)) / 1024 if m else None
        return wall, tree, (hwm / 1024 if own and hwm else None)

    def py(self, *args, env=None, rss=False):
        """Run original.py; return its JSON (and peak RSS with rss=True)."""
        argv = [sys.executable, os.path.join(HERE, "original.py"), "--original", self.original] + list(args)
        e = dict(os.environ, TZ="UTC")
        if env:
            e.update(env)
        if rss:
            out = os.path.join(self.tmp, "time-v-py.txt")
            argv = ["/usr/bin/time", "-v", "-o", out] + argv
        p = self.run(argv, capture=True, env=e, check=False)
        try:
            res = json.loads(p.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise BenchError("original.py %s printed no result: %s" % (args[0], (p.stderr or "").strip()[-400:]))
        if rss:
            with open(out) as f:
                m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", f.read())
            res["peak_rss_mb"] = int(m.group(1)) / 1024 if m else None
        return res

    def na_python(self):
        return {"na": NO_ORIGINAL}

    def py_target(self, t):
        """A target measured against the Python original: n/a without one."""
        if not self.original:
            t = dict(t, value=None, met=None, na=NO_ORIGINAL)
            t.pop("why", None)
        return t

    def subject(self, times, **extra):
        d = {"median": median(times), "n": len(times), "times": [round(t, 6) for t in times]}
        d.update(extra)
        return d

    def add(self, row):
        self.rows.append(row)

    def wrap_calls(self):
        try:
            with open(self.wrap_log) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def reset_wrap(self):
        open(self.wrap_log, "w").close()

    # ---- rows ----------------------------------------------------------

    def overhead(self):
        self.say("overhead: dockerbridge's own cost, docker replaced by /bin/true")
        self.cpu = {}
        call = self.db("warm", "exec", "--", "true", docker="/bin/true")
        cmds = [
            ("dockerbridge", shlex.join(call)),
            ("baseline", "/bin/true exec -e X luzia-x bash -c true"),
            ("version", shlex.join([self.bin, "--version"])),
        ]
        if self.a.bin_cgo:
            cmds.append(("cgo", shlex.join([self.a.bin_cgo] + call[1:])))
        if self.a.empty_go:
            cmds.append(("empty_go", shlex.join([self.a.empty_go])))
        t = self.hyperfine(cmds, runs=self.cfg["warm_runs"] * 2, rounds=self.cfg["warm_rounds"])
        db, base, ver = median(t["dockerbridge"]), median(t["baseline"]), median(t["version"])
        cgo, empty = median(t.get("cgo", [])), median(t.get("empty_go", []))
        cpu = {k: median(v) for k, v in self.cpu.items()}
        self.own_cost = db - base
        self.own_cpu = cpu["dockerbridge"] - cpu["baseline"]
        limit = 0.004
        why = ("The own cost is the process's start and exit, the parse of its command line, the state directory's "
               "activity lock and one spawn, and it grows with the host's load: %s of CPU here." % fmt_time(self.own_cpu))
        if empty is not None:
            why += (" A Go program that does nothing took %s over /bin/true in the same rounds: no Go CLI starts for less."
                    % fmt_time(empty - base))
        why += " See Findings."
        notes = ["Process start, flag parsing, the state directory's activity lock and one spawn: "
                 "%s over running /bin/true directly, of which %s of CPU (dockerbridge --version alone: %s). "
                 "The table gives the whole call, docker being /bin/true, and /bin/true alone; the own cost is the difference."
                 % (fmt_time(db - base), fmt_time(self.own_cpu), fmt_time(ver))]
        if cgo is not None:
            notes.append("The binary measured is static (CGO_ENABLED=0, as the README installs it). Built by a plain "
                         "`go build`, linked against the C library, the same call takes %s, %s of CPU, against %s and %s."
                         % (fmt_time(cgo), fmt_time(cpu["cgo"]), fmt_time(db), fmt_time(cpu["dockerbridge"])))
        if empty is not None:
            notes.append("An empty Go program (`func main() {}`, built the same way) takes %s." % fmt_time(empty))
        self.add({"id": "overhead", "title": "dockerbridge's own cost per call (exec with --docker /bin/true)",
                  "figures": [{
                      "name": "own_cost", "unit": "s",
                      "dockerbridge": self.subject(t["dockerbridge"], label="dockerbridge --docker /bin/true exec -- true"),
                      "docker": self.subject(t["baseline"], label="/bin/true alone"),
                      "python": {"na": "not applicable"},
                      "ratios": {},
                      "target": {"text": "≤ 4 ms over /bin/true alone", "value": db - base, "limit": limit,
                                 "met": db - base <= limit, "why": why},
                      "extra": {"difference_s": db - base, "version_s": ver, "cpu_s": self.own_cpu,
                                "cgo_s": cgo, "cgo_cpu_s": cpu.get("cgo"), "empty_go_s": empty,
                                "empty_go_cpu_s": cpu.get("empty_go")},
                  }],
                  "notes": notes})

    def warm(self):
        self.say("warm exec of true")
        c = self.cname("warm")
        self.run(self.db("warm", "start"))
        self.run(self.db("warm", "exec", "--", "true"))
        times = {"dockerbridge": [], "docker": [], "python": []}
        self.cpu = {}
        for r in range(self.cfg["warm_rounds"]):
            t = self.hyperfine([
                ("dockerbridge", shlex.join(self.db("warm", "exec", "--", "true"))),
                ("docker", shlex.join([self.docker, "exec", c, "bash", "-c", "true"])),
            ], runs=self.cfg["warm_runs"], offset=r)
            times["dockerbridge"] += t["dockerbridge"]
            times["docker"] += t["docker"]
            if self.original:
                res = self.py("warm", "--project", self.project("warm"), "--path", self.ws, "--runs", str(self.cfg["warm_runs"]))
                if "error" in res:
                    raise BenchError("python warm: " + res["error"])
                times["python"] += res["times"]
        db, raw, pyt = median(times["dockerbridge"]), median(times["docker"]), median(times["python"])
        r = ratio(db, raw)
        cpu_db, cpu_raw = median(self.cpu["dockerbridge"]), median(self.cpu["docker"])
        why = ("dockerbridge starts a process of its own around docker's: its own cost per call (the first row) is %s, "
               "%s of it CPU, where one docker exec costs %s of CPU (the whole warm exec through dockerbridge: %s). "
               "When docker mostly waits on the daemon that adds a few per cent; on a saturated CPU the costs add up, "
               "and the floor is about (raw + own cost) / raw = %s here. See Findings."
               % (fmt_time(self.own_cost), fmt_time(self.own_cpu), fmt_time(cpu_raw), fmt_time(cpu_db),
                  fmt_ratio(ratio(raw + self.own_cost, raw))))
        self.add({"id": "warm_exec", "title": "Warm exec of `true`",
                  "figures": [{
                      "name": "time", "unit": "s",
                      "dockerbridge": self.subject(times["dockerbridge"], label="dockerbridge exec -- true"),
                      "docker": self.subject(times["docker"], label="docker exec <c> bash -c true"),
                      "python": self.subject(times["python"], label="DockerBridge.execute('true')") if self.original else self.na_python(),
                      "ratios": {"dockerbridge/docker": r, "dockerbridge/python": ratio(db, pyt)},
                      "target": {"text": "≤ 1.10× raw docker exec", "value": r, "limit": 1.10, "met": r is not None and r <= 1.10,
                                 "why": why},
                      "cpu_s": {"dockerbridge": cpu_db, "docker": cpu_raw},
                  }],
                  "notes": ["Python's execute inspects the container before every exec: two docker calls per command."]})

    def cold(self):
        self.say("cold start to first output")
        # The raw floor: the very docker run that dockerbridge makes, then
        # the exec.
        p = self.run(self.db("cold-raw", "-v", "start"), capture=True)
        run_line = [l for l in p.stderr.splitlines() if l.startswith("+ ") and " run -d " in l]
        if not run_line:
            raise BenchError("dockerbridge -v start printed no docker run")
        run_argv = shlex.split(run_line[0][2:])
        run_argv[0] = self.docker
        raw = self.script("raw-cold.sh", "%s >/dev/null && exec %s exec %s bash -c 'echo hi'" % (
            shlex.join(run_argv), shlex.quote(self.docker), self.cname("cold-raw")))
        times = {"dockerbridge": [], "docker": [], "python": []}
        for r in range(self.cfg["cold_rounds"]):
            t = self.hyperfine([
                ("dockerbridge", shlex.join(self.db("cold-db", "exec", "--", "echo", "hi"))),
                ("docker", raw),
            ], runs=1, offset=r, prepare={
                "dockerbridge": shlex.join([self.docker, "rm", "-f", self.cname("cold-db")]),
                "docker": shlex.join([self.docker, "rm", "-f", self.cname("cold-raw")]),
            })
            times["dockerbridge"] += t["dockerbridge"]
            times["docker"] += t["docker"]
            if self.original:
                res = self.py("cold", "--project", self.project("cold-py"), "--path", self.ws, "--runs", "1")
                if "error" in res:
                    raise BenchError("python cold: " + res["error"])
                times["python"] += res["times"]
        timelines = self.cold_timelines() if self.cfg["timelines"] else {}
        self.rm([self.cname("cold-db"), self.cname("cold-raw"), self.cname("cold-py")])
        db, raw_m, pyt = median(times["dockerbridge"]), median(times["docker"]), median(times["python"])
        r = ratio(db, pyt)
        why = ("The contract's cold path is five docker calls (a full run times each one: see the notes under Results): "
               "the exec that fails, the inspect under "
               "the lock, run, the mkdir of /workspace/.tmp, and the exec again. Python's is five calls and a 0.5 s sleep, "
               "so only the sleep separates them: the ratio stays above 0.6× while the calls cost more than the sleep. "
               "The engine alone (docker run, then exec: the raw column) is %s of Python here. See Findings."
               % fmt_ratio(ratio(raw_m, pyt)))
        self.add({"id": "cold_start", "title": "Cold start to first output (no container)",
                  "figures": [{
                      "name": "time", "unit": "s",
                      "dockerbridge": self.subject(times["dockerbridge"], label="dockerbridge exec -- echo hi"),
                      "docker": self.subject(times["docker"], label="docker run -d <same flags> && docker exec <c> bash -c 'echo hi'"),
                      "python": self.subject(times["python"], label="DockerBridge.execute('echo hi')") if self.original else self.na_python(),
                      "ratios": {"dockerbridge/docker": ratio(db, raw_m), "dockerbridge/python": r},
                      "target": self.py_target({"text": "≤ 0.6× Python", "value": r, "limit": 0.6,
                                                "met": r is not None and r <= 0.6, "why": why}),
                  }],
                  "timelines": timelines,
                  "notes": ["The container is removed (untimed) before each run. Python's time is measured in-process "
                            "around execute(), so its interpreter start is not counted against it."]
                  + ["%s, one more cold start through a wrapper that times each docker call: %s." % (who, describe(tl))
                     for who, tl in timelines.items()]})

    def cold_timelines(self):
        """One cold start each through the timing wrapper: where the time
        goes, call by call (seconds from the start, and each call's length)."""
        out = {}

        def read(t0):
            calls = []
            with open(self.time_log) as f:
                for line in f:
                    start, end, rc, args = line.rstrip("\n").split(" ", 3)
                    words = args.split()
                    verb = " ".join(words[:2]) if words[:1] == ["container"] else (words[0] if words else "")
                    if verb == "exec" and "mkdir" in words:
                        verb = "exec mkdir"
                    if float(start) < t0:
                        continue  # the untimed removal before the run
                    calls.append({"call": verb, "at": round(float(start) - t0, 3),
                                  "took": round(float(end) - float(start), 3), "rc": int(rc)})
            return calls

        self.rm([self.cname("cold-db")])
        open(self.time_log, "w").close()
        t0 = time.time()
        self.run(self.db("cold-db", "exec", "--", "echo", "hi", docker=self.timer))
        out["dockerbridge"] = {"total": round(time.time() - t0, 3), "calls": read(t0)}
        if self.original:
            self.rm([self.cname("cold-py")])
            open(self.time_log, "w").close()
            env = {"PATH": self.time_dir + os.pathsep + os.environ["PATH"]}
            res = self.py("cold", "--project", self.project("cold-py"), "--path", self.ws, "--runs", "1",
                          "--epoch", env=env)
            out["Python"] = {"total": round(res["times"][0], 3), "calls": read(res["t0"])}
        return out

    def make_input(self):
        path = os.path.join(self.tmp, "input.txt")
        n = self.cfg["io_mb"] * 1000 * 1000
        # Text, so that the original's write_file (which takes a str) gets
        # the same bytes.
        self.run(["sh", "-c", "head -c %d /dev/urandom | base64 -w 76 | head -c %d > %s" % (n, n, shlex.quote(path))])
        return path, n

    def io(self):
        src, size = self.make_input()
        mb = self.cfg["io_mb"]
        c = self.cname("warm")
        self.say("write %d MB" % mb)
        cat = "%s exec -i %s sh -c 'cat > /workspace/raw.bin' < %s" % (shlex.quote(self.docker), c, shlex.quote(src))
        write = "%s write db.bin < %s" % (shlex.join(self.db("warm")), shlex.quote(src))
        t = self.hyperfine([("dockerbridge", write), ("docker", cat)], runs=1, rounds=self.cfg["io_runs"], shell=True)
        for name in ("db.bin", "raw.bin"):
            got = os.path.getsize(os.path.join(self.ws, name))
            if got != size:
                raise BenchError("write: %s has %d bytes, want %d" % (name, got, size))
        rss = {"dockerbridge": [], "own": [], "docker": [], "python": []}
        pytimes = []
        pymsg = ""
        for _ in range(self.cfg["rss_runs"]):
            _, tree, own = self.timed_rss(self.db("warm", "write", "db.bin"), stdin_path=src, own=True)
            rss["dockerbridge"].append(tree)
            if own:
                rss["own"].append(own)
            _, tree, _ = self.timed_rss([self.docker, "exec", "-i", c, "sh", "-c", "cat > /workspace/raw.bin"], stdin_path=src)
            rss["docker"].append(tree)
            if self.original and len(pytimes) < self.cfg["py_io_runs"]:
                res = self.py("write", "--project", self.project("warm"), "--path", self.ws, "--src", src, "--dest", "py.bin", rss=True)
                pytimes += res["times"]
                rss["python"].append(res["peak_rss_mb"])
                if not res["success"]:
                    pymsg = res["message"][:200]
        db, raw, pyt = median(t["dockerbridge"]), median(t["docker"]), median(pytimes)
        r = ratio(db, raw)
        peak = max(median(rss["dockerbridge"]), median(rss["own"]) or 0)
        notes = ["Peak RSS is /usr/bin/time -v's maximum resident set size: the largest single process of the tree "
                 "(for dockerbridge: itself or the docker CLI it runs). dockerbridge's own process alone peaked at %s MB (VmHWM)."
                 % ("%.1f" % median(rss["own"]) if rss["own"] else "?"),
                 "Python's time is write_file() in-process; its peak RSS is the whole caller process, which holds the content as a str, as its callers do."]
        if pymsg:
            notes.append("Python's write_file failed: " + pymsg)
        self.add({"id": "write", "title": "Write %d MB" % mb, "bytes": size,
                  "figures": [{
                      "name": "time", "unit": "s",
                      "dockerbridge": self.subject(t["dockerbridge"], label="dockerbridge write f < file"),
                      "docker": self.subject(t["docker"], label="docker exec -i <c> sh -c 'cat > f' < file"),
                      "python": self.subject(pytimes, label="DockerBridge.write_file(f, content)", success=not pymsg) if self.original else self.na_python(),
                      "ratios": {"dockerbridge/docker": r, "dockerbridge/python": ratio(db, pyt)},
                      "target": {"text": "≤ 1.2× raw cat", "value": r, "limit": 1.2, "met": r is not None and r <= 1.2,
                                 "why": "A write has a fixed part on top of the copy: dockerbridge's own start (the first "
                                        "row), the ready byte's round trip, and three processes in the container (realpath, "
                                        "dd, mv) where raw cat starts two. On a saturated host every start is slow. See Findings."},
                  }, {
                      "name": "peak_rss", "unit": "MB",
                      "dockerbridge": {"median": median(rss["dockerbridge"]), "n": len(rss["dockerbridge"]), "own_mb": median(rss["own"])},
                      "docker": {"median": median(rss["docker"]), "n": len(rss["docker"])},
                      "python": {"median": median(rss["python"]), "n": len(rss["python"])} if self.original else self.na_python(),
                      "ratios": {"dockerbridge/docker": ratio(median(rss["dockerbridge"]), median(rss["docker"])),
                                 "dockerbridge/python": ratio(median(rss["dockerbridge"]), median(rss["python"]))},
                      "target": {"text": "peak RSS ≤ 40 MB", "value": peak, "limit": 40, "met": peak <= 40},
                  }],
                  "notes": notes})

        self.say("read %d MB" % mb)
        read = "%s read db.bin > /dev/null" % shlex.join(self.db("warm"))
        catr = "%s exec %s cat /workspace/db.bin > /dev/null" % (shlex.quote(self.docker), c)
        t = self.hyperfine([("dockerbridge", read), ("docker", catr)], runs=1, rounds=self.cfg["io_runs"], shell=True)
        rss = {"dockerbridge": [], "own": [], "docker": [], "python": []}
        pytimes = []
        for _ in range(self.cfg["rss_runs"]):
            _, tree, own = self.timed_rss(self.db("warm", "read", "db.bin"), own=True)
            rss["dockerbridge"].append(tree)
            if own:
                rss["own"].append(own)
            _, tree, _ = self.timed_rss([self.docker, "exec", c, "cat", "/workspace/db.bin"])
            rss["docker"].append(tree)
            if self.original and len(pytimes) < self.cfg["py_io_runs"]:
                res = self.py("read", "--project", self.project("warm"), "--path", self.ws, "--name", "db.bin", rss=True)
                if "error" in res:
                    raise BenchError("python read: " + res["error"])
                pytimes += res["times"]
                rss["python"].append(res["peak_rss_mb"])
        db, raw, pyt = median(t["dockerbridge"]), median(t["docker"]), median(pytimes)
        self.add({"id": "read", "title": "Read %d MB" % mb, "bytes": size,
                  "figures": [{
                      "name": "time", "unit": "s",
                      "dockerbridge": self.subject(t["dockerbridge"], label="dockerbridge read f > /dev/null"),
                      "docker": self.subject(t["docker"], label="docker exec <c> cat f > /dev/null"),
                      "python": self.subject(pytimes, label="DockerBridge.read_file(f)") if self.original else self.na_python(),
                      "ratios": {"dockerbridge/docker": ratio(db, raw), "dockerbridge/python": ratio(db, pyt)},
                  }, {
                      "name": "peak_rss", "unit": "MB",
                      "dockerbridge": {"median": median(rss["dockerbridge"]), "n": len(rss["dockerbridge"]), "own_mb": median(rss["own"])},
                      "docker": {"median": median(rss["docker"]), "n": len(rss["docker"])},
                      "python": {"median": median(rss["python"]), "n": len(rss["python"])} if self.original else self.na_python(),
                      "ratios": {"dockerbridge/docker": ratio(median(rss["dockerbridge"]), median(rss["docker"])),
                                 "dockerbridge/python": ratio(median(rss["dockerbridge"]), median(rss["python"]))},
                  }],
                  "notes": ["dockerbridge read hands its stdout to docker as it is, so the bytes never pass through it; "
                            "its own process peaked at %s MB." % ("%.1f" % median(rss["own"]) if rss["own"] else "?")]})
        for name in ("db.bin", "raw.bin", "py.bin"):
            try:
                os.remove(os.path.join(self.ws, name))
            except FileNotFoundError:
                pass
        os.remove(src)

    def concurrent(self):
        n = self.cfg["conc_n"]
        self.say("%d concurrent cold execs on one project" % n)
        db_succ, db_walls, db_counts = [], [], []
        py_succ, py_walls, py_counts, py_errors = [], [], [], []
        for _ in range(self.cfg["conc_rounds"]):
            c = self.cname("conc-db")
            self.rm([c])
            argv = self.db("conc-db", "exec", "--", "echo", "ok")
            t0 = time.perf_counter()
            procs = [subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(n)]
            outs = [p.communicate() for p in procs]
            db_walls.append(time.perf_counter() - t0)
            ok = sum(1 for p, (o, _) in zip(procs, outs) if p.returncode == 0 and o == "ok\n")
            for p, (o, e) in zip(procs, outs):
                if p.returncode != 0:
                    self.logf.write("concurrent dockerbridge exit %d: %s\n" % (p.returncode, e.strip()[-300:]))
            db_succ.append(ok)
            db_counts.append(sum(1 for x in self.ours() if x == c))
            self.rm([c])
            if self.original:
                c = self.cname("conc-py")
                self.rm([c])
                res = self.py("concurrent", "--project", self.project("conc-py"), "--path", self.ws, "--n", str(n))
                py_succ.append(res["successes"])
                py_walls += res["times"]
                py_counts.append(sum(1 for x in self.ours() if x == c))
                py_errors += [r for r in res["results"] if r != "ok"]
                self.rm([c])
        worst = min(db_succ)
        notes = ["dockerbridge: %s of %d in each round; containers afterwards: %s." % (
            ", ".join(map(str, db_succ)), n, ", ".join(map(str, db_counts)))]
        if self.original:
            notes.append("Python (8 threads, one DockerBridge each): %s of %d; containers afterwards: %s." % (
                ", ".join(map(str, py_succ)), n, ", ".join(map(str, py_counts))))
            if py_errors:
                notes.append("Python's first failure: " + py_errors[0][:160])
        self.add({"id": "concurrent_cold", "title": "%d concurrent cold execs on one project" % n,
                  "figures": [{
                      "name": "successes", "unit": "of %d" % n,
                      "dockerbridge": {"median": median(db_succ), "n": len(db_succ), "all": db_succ, "containers": db_counts},
                      "docker": {"na": "no raw equivalent"},
                      "python": {"median": median(py_succ), "n": len(py_succ), "all": py_succ, "containers": py_counts} if self.original else self.na_python(),
                      "ratios": {},
                      "target": {"text": "%d/%d succeed" % (n, n), "value": worst, "limit": n, "met": worst == n and all(x == 1 for x in db_counts)},
                  }, {
                      "name": "time", "unit": "s",
                      "dockerbridge": self.subject(db_walls, label="wall, first spawn to last exit"),
                      "docker": {"na": "no raw equivalent"},
                      "python": self.subject(py_walls, label="wall, 8 threads") if self.original else self.na_python(),
                      "ratios": {"dockerbridge/python": ratio(median(db_walls), median(py_walls))},
                  }],
                  "notes": notes})

    def tmux(self):
        self.say("tmux run of true")
        c = self.cname("warm")
        self.run(self.db("warm", "tmux", "new", "bench"))
        self.run(self.db("warm", "tmux", "wait-shell", "bench", "--timeout", "30s"))
        t = self.hyperfine([
            ("dockerbridge", shlex.join(self.db("warm", "tmux", "run", "bench", "true"))),
            ("docker", shlex.join([self.docker, "exec", c, "bash", "-c", "true"])),
        ], runs=self.cfg["tmux_runs"], rounds=self.cfg["tmux_rounds"])
        db, raw = median(t["dockerbridge"]), median(t["docker"])
        r = ratio(db, raw)
        self.add({"id": "tmux_run", "title": "`tmux run NAME true` to completion",
                  "figures": [{
                      "name": "time", "unit": "s",
                      "dockerbridge": self.subject(t["dockerbridge"], label="dockerbridge tmux run bench true"),
                      "docker": self.subject(t["docker"], label="docker exec <c> bash -c true"),
                      "python": {"na": "the original has no tmux controller"},
                      "ratios": {"dockerbridge/docker": r},
                      "target": {"text": "≤ raw exec + one round trip (≤ 2.00×)", "value": r, "limit": 2.0, "met": r is not None and r <= 2.0},
                  }],
                  "notes": ["run types the command and waits on its own tmux wait-for channel in one docker exec; "
                            "the figure includes typing, the shell running it, and reading the output back."]})

        self.say("tmux state of a shell at its prompt")
        t = self.hyperfine([
            ("dockerbridge", shlex.join(self.db("warm", "tmux", "state", "bench"))),
            ("docker", shlex.join([self.docker, "exec", c, "bash", "-c", "true"])),
        ], runs=self.cfg["tmux_runs"], rounds=self.cfg["tmux_rounds"])
        db, raw_state = median(t["dockerbridge"]), median(t["docker"])
        r = ratio(db, raw_state)
        self.add({"id": "tmux_state", "title": "`tmux state NAME` of a shell at its prompt",
                  "figures": [{
                      "name": "time", "unit": "s",
                      "dockerbridge": self.subject(t["dockerbridge"], label="dockerbridge tmux state bench"),
                      "docker": self.subject(t["docker"], label="docker exec <c> bash -c true"),
                      "python": {"na": "the original has no tmux controller"},
                      "ratios": {"dockerbridge/docker": r},
                      "target": {"text": "one docker exec per answer (≤ 2.00× raw exec)", "value": r, "limit": 2.0,
                                 "met": r is not None and r <= 2.0},
                  }],
                  "notes": ["state reads the pane (tmux) and its foreground process (/proc) in one docker exec of a "
                            "small bash script; the figure is the whole answer, from dockerbridge's start to its exit."]})

        idle = self.cfg["idle"]
        interval = self.cfg["interval"]
        idle_s = float(idle[:-2]) / 1000 if idle.endswith("ms") else float(idle[:-1])
        int_s = float(interval[:-2]) / 1000
        self.say("wait-idle detection delay (--idle %s, --interval %s)" % (idle, interval))
        delays, rates, before, early = [], [], [], []
        for i in range(self.cfg["idle_trials"]):
            name = "idle%d" % i
            marker = ".bench-idle-%d" % i
            path = os.path.join(self.ws, marker)
            if os.path.exists(path):
                os.remove(path)
            cmd = ("i=0; while [ $i -lt %d ]; do i=$((i+1)); echo line $i; sleep 0.1; done; "
                   "date +%%s.%%N > /workspace/%s; exec sleep 3600") % (self.cfg["idle_lines"], marker)
            self.run(self.db("warm", "tmux", "new", name, "--cmd", cmd))
            t_start = time.time()
            p = self.run(self.db("warm", "tmux", "wait-idle", name, "--idle", idle, "--interval", interval,
                                 "--timeout", "60s", json_out=True), capture=True)
            t_end = time.time()
            res = json.loads(p.stdout)
            if not res.get("idle"):
                raise BenchError("wait-idle did not report idle")
            # A wait that returned before the output ended finds no mark
            # yet: wait for it, and count the wait as early.
            for _ in range(600):
                if os.path.exists(path) and os.path.getsize(path) > 0:
                    break
                time.sleep(0.1)
            with open(path) as f:
                last = float(f.read().strip())
            os.remove(path)
            if t_end < last:
                shown = [l for l in res.get("content", "").splitlines() if l.strip()]
                early.append("%s before the end (the screen showed %r)" % (fmt_time(last - t_end), shown[-1] if shown else ""))
            delays.append(t_end - last)  # negative when early
            before.append(t_start < last)
            waited = res["waited_ms"] / 1000
            # Looks per second of waiting: the first look is at once, and each
            # later one follows an interval, so n looks span n-1 intervals.
            rates.append((res["polls"] - 1) / waited if waited > 0 else 0)
            self.run(self.db("warm", "tmux", "kill", name))
        self.run(self.db("warm", "tmux", "kill", "bench"), check=False)
        d = median(delays)
        limit = idle_s + 2 * int_s
        why = ("Each look at the screen is one docker exec, %s here (the raw exec of the row above), "
               "and the idle time counts from the first look that saw the final screen: the delay "
               "is at most --idle + one interval + one exec (%s)." % (fmt_time(raw), fmt_time(idle_s + int_s + (raw or 0))))
        if early:
            why = ("%d of %d waits returned before the output ended: the screen stood still for --idle while the program "
                   "was still running (%s). " % (len(early), len(before), "; ".join(early))) + why
        self.add({"id": "tmux_wait_idle", "title": "`tmux wait-idle` detection delay after output stops (--idle %s, --interval %s)" % (idle, interval),
                  "figures": [{
                      "name": "delay", "unit": "s",
                      "dockerbridge": self.subject(delays, label="last output to the tool's return", idle_s=idle_s,
                                                   began_before_output_ended=sum(before), early=early),
                      "docker": {"na": "no raw equivalent"},
                      "python": {"na": "the original has no tmux controller"},
                      "ratios": {"delay/idle": ratio(d, idle_s)},
                      "target": {"text": "≤ --idle + 2 intervals (%.2f s), none early" % limit, "value": d, "limit": limit,
                                 "met": d is not None and d <= limit and not early, "why": why},
                  }, {
                      "name": "polls_per_second", "unit": "/s",
                      "dockerbridge": {"median": median(rates), "n": len(rates)},
                      "docker": {"na": "no raw equivalent"},
                      "python": {"na": "the original has no tmux controller"},
                      "ratios": {},
                      "target": {"text": "≤ 1 / interval (%.1f/s)" % (1 / int_s), "value": median(rates), "limit": 1 / int_s,
                                 "met": median(rates) <= 1 / int_s},
                  }],
                  "notes": ["The program prints a line every 0.1 s, then writes the time of its last line; the delay runs from "
                            "then to wait-idle's exit. %d of %d waits began before the output ended; %d returned before it "
                            "ended." % (sum(before), len(before), len(early))]})

    def pool(self, n):
        self.say("starting %d idle containers" % n)
        names = ["pool-%02d" % i for i in range(n)]

        def start(s):
            self.run(self.db(s, "start"))

        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            list(ex.map(start, names))
        return names

    def start_script(self, names, tag):
        return self.script("start-%s.sh" % tag, "exec %s start %s >/dev/null" % (
            shlex.quote(self.docker), " ".join(self.cname(s) for s in names)))

    def reap_measure(self, names, runs, tag):
        """Time a reap that stops every one of names, against one raw
        docker stop of them all, and count dockerbridge's docker calls."""
        prep = self.start_script(names, tag)
        projects = [self.project(s) for s in names]
        self.reset_wrap()
        t = self.hyperfine([
            ("dockerbridge", shlex.join([self.bin, "--docker", self.wrapper, "reap", "--idle", "0s"] + projects)),
            ("docker", shlex.join([self.docker, "stop"] + [self.cname(s) for s in names])),
        ], runs=runs, prepare={"dockerbridge": prep, "docker": prep})
        calls = self.wrap_calls()
        running = self.ours(all_=False)
        if any(self.cname(s) in running for s in names):
            raise BenchError("reap left containers running")
        return t, len(calls) / runs, calls

    def scale(self, names):
        rows = []
        points = self.cfg["scale"]
        for idx in reversed(range(len(points))):
            n = points[idx]
            self.say("scale: %d running containers" % n)
            self.run([self.docker, "start"] + [self.cname(s) for s in names[:n]])
            t = self.hyperfine([
                ("dockerbridge", shlex.join(self.db(names[0], "exec", "--", "true"))),
                ("docker", shlex.join([self.docker, "exec", self.cname(names[0]), "bash", "-c", "true"])),
            ], runs=self.cfg["scale_exec_runs"], rounds=self.cfg["scale_rounds"])
            rt, calls, _ = self.reap_measure(names[:n], self.cfg["scale_reap_runs"][idx], "scale%d" % n)
            rows.append((idx, n, t, rt, calls))
        figs = []
        for idx, n, t, rt, calls in sorted(rows, key=lambda x: x[0]):
            figs.append({"name": "exec_n%d" % idx, "n": n, "unit": "s",
                         "dockerbridge": self.subject(t["dockerbridge"]), "docker": self.subject(t["docker"]),
                         "python": {"na": "not measured"},
                         "ratios": {"dockerbridge/docker": ratio(median(t["dockerbridge"]), median(t["docker"]))}})
        for idx, n, t, rt, calls in sorted(rows, key=lambda x: x[0]):
            figs.append({"name": "reap_n%d" % idx, "n": n, "unit": "s",
                         "dockerbridge": self.subject(rt["dockerbridge"], docker_calls=calls),
                         "docker": self.subject(rt["docker"], label="docker stop of all", docker_calls=1),
                         "python": {"na": "see the reap row"},
                         "ratios": {"dockerbridge/docker": ratio(median(rt["dockerbridge"]), median(rt["docker"]))}})
        self.add({"id": "scale", "title": "Scale: exec latency and reap time against the number of running containers",
                  "figures": figs,
                  "notes": ["Exec is of `true` in one of the N running containers. Reap stops all N (--idle 0s); each run "
                            "is prepared (untimed) by one docker start of all N. Other containers on the host are "
                            "listed by the ps but not touched."]})

    def reap(self, names):
        n = self.cfg["reap_n"]
        names = names[:n]
        self.say("reap of %d idle containers" % n)
        running = self.ours_pool_suffixes()
        if running:
            self.run([self.docker, "stop"] + [self.cname(s) for s in running])
        t, calls, call_lines = self.reap_measure(names, self.cfg["reap_runs"], "reap")
        per_run = call_lines[:int(calls)] if calls else []
        py = {"na": NO_ORIGINAL}
        py_calls = None
        own = None
        notes = ["dockerbridge's docker calls in one reap: %s." % "; ".join(
            "`docker %s`" % (l if len(l) < 60 else l[:57] + "...") for l in per_run)]
        wrapenv = {"PATH": self.wrap_dir + os.pathsep + os.environ["PATH"]}
        if self.original:
            self.say("reap: Python's cleanup_idle_containers on the same %d containers" % n)
            pyt = []
            pyc = []
            for _ in range(self.cfg["py_reap_runs"]):
                self.run([self.docker, "start"] + [self.cname(s) for s in names])
                self.reset_wrap()
                res = self.py("reap", "--prefix", self.prefix + "pool-", env=wrapenv)
                pyt += res["times"]
                pyc.append(len(self.wrap_calls()))
                if any(self.cname(s) in self.ours(all_=False) for s in names):
                    raise BenchError("python reap left containers running")
            py = self.subject(pyt, label="cleanup_idle_containers(0) on the same containers (with --init)")
            py_calls = median(pyc)
        k = self.cfg["py_own_n"]
        if self.original and k:
            self.say("reap: Python on %d containers of its own (no --init)" % k)
            own_names = ["pyown-%02d" % i for i in range(k)]
            res = self.py("create", "--projects", ",".join(self.project(s) for s in own_names), "--path", self.ws)
            if res["errors"]:
                raise BenchError("python create: " + res["errors"][0])
            self.reset_wrap()
            res = self.py("reap", "--prefix", self.prefix + "pyown-", env=wrapenv)
            own = {"n": k, "time_s": res["times"][0], "docker_calls": len(self.wrap_calls()),
                   "per_container_s": res["times"][0] / k}
            self.rm([self.cname(s) for s in own_names])
            notes.append("Python's reap makes 1 ps, then an inspect and a stop per container, in sequence. "
                         "On %d containers it started itself (no --init, so each docker stop waits its 10 s grace) "
                         "it took %s in %d docker calls: %s per container, about %s for %d."
                         % (k, fmt_time(own["time_s"]), own["docker_calls"], fmt_time(own["per_container_s"]),
                            fmt_time(own["per_container_s"] * n), n))
        elif self.original:
            notes.append("Python's reap makes 1 ps, then an inspect and a stop per container, in sequence. "
                         "Its reap of containers it started itself (no --init: 10 s per docker stop) is left out of --quick.")
        db = median(t["dockerbridge"])
        met_t = db is not None and db <= 2.0
        met_c = calls <= 4
        self.add({"id": "reap", "title": "Reap %d idle containers" % n, "n": n,
                  "figures": [{
                      "name": "time", "unit": "s",
                      "dockerbridge": self.subject(t["dockerbridge"], label="dockerbridge reap --idle 0s <projects>"),
                      "docker": self.subject(t["docker"], label="docker stop <all> (one call)"),
                      "python": py,
                      "ratios": {"dockerbridge/docker": ratio(db, median(t["docker"])),
                                 "dockerbridge/python": ratio(db, py.get("median"))},
                      "target": {"text": "≤ 2 s", "value": db, "limit": 2.0, "met": met_t,
                                 "why": "One raw `docker stop` of the same %d containers took %s in this run: no reaper can "
                                        "beat it. The reaper's own part (its process, the ps, the inspect) is the rest: %s."
                                        % (n, fmt_time(median(t["docker"])),
                                           fmt_time(db - median(t["docker"])) if db > median(t["docker"]) else "within the noise")},
                      "python_own_containers": own,
                  }, {
                      "name": "docker_calls", "unit": "calls",
                      "dockerbridge": {"median": calls, "n": self.cfg["reap_runs"]},
                      "docker": {"median": 1, "n": 1},
                      "python": {"median": py_calls, "n": self.cfg["py_reap_runs"]} if self.original else self.na_python(),
                      "ratios": {},
                      "target": {"text": "≤ 4 docker calls", "value": calls, "limit": 4, "met": met_c},
                  }],
                  "notes": notes})

    def fleet(self, names):
        """ps and reap across two engines against one. The two engines are
        two docker contexts on this host's one engine, in a DOCKER_CONFIG
        of the bench's own: what is measured is the fan-out's own cost, with
        the engine's work doubled."""
        self.say("fleet: ps and reap across 2 engines against 1")
        cfg = os.path.join(self.tmp, "docker-config")
        os.makedirs(cfg, exist_ok=True)
        env = dict(os.environ, DOCKER_CONFIG=cfg)
        env.pop("DOCKERBRIDGE_ENGINES", None)
        host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        for e in ("bench-e1", "bench-e2"):
            self.run([self.docker, "context", "rm", "-f", e], check=False, env=env)
            self.run([self.docker, "context", "create", e, "--docker", "host=" + host], env=env)
        projects = [self.project(s) for s in names]
        one = [self.bin, "--engines", "bench-e1"]
        two = [self.bin, "--engines", "bench-e1,bench-e2"]
        reap = ["reap", "--idle", "10m"] + projects
        # The floor: raw docker asked the same way, two ps at once against
        # one, both through bash so that its start counts on both sides.
        d = shlex.quote(self.docker)
        raw_one = "%s --context bench-e1 ps -a >/dev/null" % d
        raw_two = "%s --context bench-e1 ps -a >/dev/null & %s --context bench-e2 ps -a >/dev/null; wait" % (d, d)
        cmds = [("two_ps", two + ["ps"]), ("one_ps", one + ["ps"]), ("docker_ps", [self.docker, "ps", "-a"]),
                ("two_reap", two + reap), ("one_reap", one + reap),
                ("raw_two_ps", ["bash", "-c", raw_two]), ("raw_one_ps", ["bash", "-c", raw_one])]
        for _, argv in cmds:
            self.run(argv, env=env)
        saved = os.environ.get("DOCKER_CONFIG")
        os.environ["DOCKER_CONFIG"] = cfg
        try:
            t = self.hyperfine([(n, shlex.join(argv)) for n, argv in cmds],
                               runs=self.cfg["fleet_runs"], rounds=self.cfg["fleet_rounds"])
        finally:
            if saved is None:
                os.environ.pop("DOCKER_CONFIG", None)
            else:
                os.environ["DOCKER_CONFIG"] = saved
        figs = []
        raw = ratio(median(t["raw_two_ps"]), median(t["raw_one_ps"]))
        for verb in ("ps", "reap"):
            two_m, one_m = median(t["two_" + verb]), median(t["one_" + verb])
            r = ratio(two_m, one_m)
            floor = ({"docker": self.subject(t["docker_ps"], label="docker ps -a (one engine)")} if verb == "ps"
                     else {"docker": {"na": "no raw equivalent"}})
            figs.append(dict({
                "name": verb, "unit": "s",
                "dockerbridge": self.subject(t["two_" + verb], label="dockerbridge --engines e1,e2 %s" % verb),
                "one_engine": self.subject(t["one_" + verb], label="dockerbridge --engines e1 %s" % verb),
                "python": {"na": "not measured"},
                "ratios": {"two/one": r},
                "target": {"text": "≤ 1.2× one engine", "value": r, "limit": 1.2,
                           "met": r is not None and r <= 1.2,
                           "why": "2 engines %s against 1 engine %s: the engines are asked at once, one docker "
                                  "call each. Raw docker asked the same way (two docker ps at once against one, on "
                                  "this one engine) takes %s: that is the floor here, since both CLIs and the "
                                  "engine's doubled work share 2 CPUs" % (fmt_time(two_m), fmt_time(one_m), fmt_ratio(raw))},
            }, **floor))
        self.add({"id": "fleet", "title": "Fleet: ps and reap across 2 engines against 1", "figures": figs,
                  "notes": ["Two docker contexts on this host's one engine stand for two engines, so the engine does "
                            "twice the work; the ratio is of dockerbridge across both against dockerbridge on one. "
                            "reap covers %d projects, none idle: the pass is one ps per engine." % len(names)]})

    def egress(self):
        """A transfer through the egress proxy against the same transfer
        straight to the server. The server is the egress scenarios' own
        (testdata/helpers/egress-server) on a network of the bench's; the
        client is bash alone, in two sandbox containers: the egress-
        controlled one, and a plain one on the server's network."""
        mb = self.cfg["egress_mb"]
        size = mb * 1000 * 1000
        self.say("egress: %d MB through the proxy against direct" % mb)
        srv_bin = os.path.join(self.tmp, "egress-server")
        p = subprocess.run(["go", "build", "-o", srv_bin, "./testdata/helpers/egress-server"], cwd=self.root,
                           env=dict(os.environ, CGO_ENABLED="0"), capture_output=True, text=True, timeout=600)
        if p.returncode != 0:
            raise BenchError("go build egress-server: " + (p.stdout + p.stderr).strip()[-400:])
        net = self.prefix + "out"
        self.run([self.docker, "network", "create", net])
        srv, direct, ctr = self.cname("egress-srv"), self.cname("egress-direct"), self.cname("egress")
        self.run([self.docker, "run", "-d", "--name", srv, "--network", net, "-v", srv_bin + ":/egress-server:ro",
                  "--user", "65534:65534", "luzia-sandbox:latest", "/egress-server"])
        ip = self.run([self.docker, "container", "inspect", "--format",
                       "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", srv], capture=True).stdout.strip()
        self.run([self.docker, "run", "-d", "--name", direct, "--network", net, "-v", self.ws + ":/workspace",
                  "-w", "/workspace", "luzia-sandbox:latest", "tail", "-f", "/dev/null"])
        self.run(self.db("egress", "--egress", "allow=web.test:8080", "--egress-network", net,
                         "--egress-host", "web.test:" + ip, "start"))
        script = os.path.join(self.ws, "egress-get.sh")
        body = r"""# egress-get.sh proxy|connect|direct BYTES [count|time]: GET /bytes/BYTES from
# the bench's server through HTTP_PROXY (plain HTTP, or a CONNECT tunnel) or
# straight, with bash alone; with count, print how many bytes came back; with
# time, the seconds from the connect to the last byte (the exec's own start
# left out: it costs more than the transfer and would hide the proxy's part).
t0=$EPOCHREALTIME
hp=${HTTP_PROXY#http://}
case $1 in
proxy)
	exec 3<>"/dev/tcp/${hp%:*}/${hp##*:}"
	target=http://web.test:8080/bytes/$2
	;;
connect)
	exec 3<>"/dev/tcp/${hp%:*}/${hp##*:}"
	printf 'CONNECT web.test:8080 HTTP/1.1\r\nHost: web.test:8080\r\n\r\n' >&3
	while IFS= read -r line <&3 && [[ $line != $'\r' ]]; do :; done
	target=/bytes/$2
	;;
direct)
	exec 3<>"/dev/tcp/@IP@/8080"
	target=/bytes/$2
	;;
esac
printf 'GET %s HTTP/1.0\r\nHost: web.test:8080\r\n\r\n' "$target" >&3
if [[ ${3-} == count ]]; then cat <&3 | wc -c; else cat <&3 >/dev/null; fi
if [[ ${3-} == time ]]; then t1=$EPOCHREALTIME; echo $((${t1/./} - ${t0/./})); fi
"""
        with open(script, "w") as f:
            f.write(body.replace("@IP@", ip))
        cmds = [("proxy", [self.docker, "exec", ctr, "bash", "/workspace/egress-get.sh", "proxy", str(size)]),
                ("connect", [self.docker, "exec", ctr, "bash", "/workspace/egress-get.sh", "connect", str(size)]),
                ("direct", [self.docker, "exec", direct, "bash", "/workspace/egress-get.sh", "direct", str(size)])]
        for name, argv in cmds:
            got = int(self.run(argv + ["count"], capture=True).stdout.strip() or 0)
            # The answer's headers come with the body.
            if not size < got < size + 1000:
                raise BenchError("egress %s: %d bytes received, want %d and the headers" % (name, got, size))
        # Each transfer times itself; the three take turns, each round in
        # another order, so that a spell of load falls on all of them.
        t = {n: [] for n, _ in cmds}
        for r in range(self.cfg["egress_runs"] * self.cfg["egress_rounds"]):
            k = r % len(cmds)
            for name, argv in cmds[k:] + cmds[:k]:
                out = self.run(argv + ["time"], capture=True).stdout.strip()
                t[name].append(int(out) / 1e6)
        raw = median(t["direct"])
        figs = []
        for name, label in (("http", "plain HTTP GET through the proxy"), ("connect", "GET through a CONNECT tunnel")):
            key = "proxy" if name == "http" else "connect"
            db = median(t[key])
            r = ratio(db, raw)
            figs.append({
                "name": name, "unit": "s",
                "dockerbridge": self.subject(t[key], label="%s, %d MB" % (label, mb)),
                "docker": self.subject(t["direct"], label="the same GET straight to the server, from a plain container"),
                "python": {"na": "no egress control"},
                "ratios": {"proxy/direct": r},
                "target": {"text": "≤ 1.1× direct", "value": r, "limit": 1.1, "met": r is not None and r <= 1.1,
                           "why": "through the proxy %s, direct %s" % (fmt_time(db), fmt_time(raw))},
            })
        self.add({"id": "egress", "title": "Egress proxy: %d MB from a local server, through the proxy against direct" % mb,
                  "figures": figs,
                  "notes": ["Both sides are the same bash client (/dev/tcp and cat) in a sandbox container, timing "
                            "itself from its connect to the last byte: the docker exec that starts it costs more than "
                            "the transfer and is left out. The server runs on a network of the bench's own, and the "
                            "proxy maps its name with --egress-host."]})
        self.run(self.db("egress", "--egress", "allow=web.test:8080", "rm"))

    def ours_pool_suffixes(self):
        return [n[len(self.prefix):] for n in self.ours(all_=False) if n[len(self.prefix):].startswith("pool-")]

    def go_benchmarks(self):
        self.say("go benchmarks (bridge)")
        env = dict(os.environ)
        rows = []
        runs = [("./bridge", "^Benchmark(ExecOverhead|State|HeldWriter|Framer)", self.cfg["go_benchtime"])]
        if self.cfg["go_engine_benchtime"]:
            # The CLI's benchmarks and the engine's cost a bigger test build
            # and real containers: the full run only.
            runs += [(".", "^BenchmarkCLI", self.cfg["go_benchtime"]),
                     ("./bridge", "^BenchmarkEngine", self.cfg["go_engine_benchtime"])]
        for pkg, pattern, benchtime in runs:
            p = subprocess.run(["go", "test", "-run", "^$", "-bench", pattern, "-benchmem", "-benchtime", benchtime,
                                "-count", "1", pkg], cwd=self.root, env=env, capture_output=True, text=True,
                               timeout=900)
            self.logf.write(p.stdout + p.stderr)
            if p.returncode != 0:
                raise BenchError("go test -bench %s failed: %s" % (pattern, (p.stdout + p.stderr).strip()[-400:]))
            for line in p.stdout.splitlines():
                f = line.split()
                if not f or not f[0].startswith("Benchmark") or len(f) < 4:
                    continue
                row = {"name": re.sub(r"-\d+$", "", f[0]), "package": pkg, "iterations": int(f[1])}
                for v, unit in zip(f[2::2], f[3::2]):
                    try:
                        row[unit] = float(v)
                    except ValueError:
                        pass
                rows.append(row)
        self.gobench = rows

    # ---- output --------------------------------------------------------

    def host(self):
        def out(argv):
            try:
                return subprocess.run(argv, capture_output=True, text=True, timeout=60).stdout.strip()
            except (OSError, subprocess.TimeoutExpired):
                return ""
        return {
            "cpus": os.cpu_count(),
            "kernel": platform.release(),
            "docker_server": out([self.docker, "version", "--format", "{{.Server.Version}}"]),
            "docker_client": out([self.docker, "version", "--format", "{{.Client.Version}}"]),
            "go": out(["go", "env", "GOVERSION"]),
            "python": platform.python_version(),
            "hyperfine": out(["hyperfine", "--version"]),
            "load_start": [round(x, 2) for x in self.load_start],
            "load_end": [round(x, 2) for x in os.getloadavg()],
        }

    def write(self, errors):
        # The rows in the order, whatever order they ran in.
        order = {rid: i for i, (rid, _) in enumerate(LAYOUT)}
        self.rows.sort(key=lambda r: order.get(r["id"], len(order)))
        data = {
            "schema": 1,
            "mode": self.mode,
            "run_id": str(self.run_id),
            "started": self.started.isoformat(timespec="seconds"),
            "duration_s": round(time.monotonic() - self.t0, 1),
            "host": self.host(),
            "original": os.path.basename(self.original) if self.original else None,
            "config": self.cfg,
            "rows": self.rows,
            "go_benchmarks": self.gobench,
            "errors": errors,
        }
        os.makedirs(self.a.out, exist_ok=True)
        with open(os.path.join(self.a.out, "BENCHMARKS.json"), "w") as f:
            json.dump(data, f, indent=1, ensure_ascii=False)
            f.write("\n")
        with open(os.path.join(self.a.out, "BENCHMARKS.md"), "w") as f:
            f.write(render(data, self.root))


def describe(tl):
    parts = []
    prev_end = None
    for c in tl["calls"]:
        if prev_end is not None and c["at"] - prev_end >= 0.03:
            parts.append("(%s between)" % fmt_time(c["at"] - prev_end))
        parts.append("%s %s%s" % (c["call"], fmt_time(c["took"]), "" if c["rc"] == 0 else " (fails)"))
        prev_end = c["at"] + c["took"]
    return "%s in all: %s" % (fmt_time(tl["total"]), ", ".join(parts))


def cell(fig, key):
    s = fig.get(key)
    if s is None:
        return "–"
    if "na" in s:
        return "n/a (%s)" % s["na"]
    m = s.get("median")
    if m is None:
        return "–"
    unit = fig["unit"]
    if unit == "s":
        text = fmt_time(m)
    elif unit == "MB":
        text = "%.1f MB" % m
    elif unit == "calls":
        text = "%g calls" % m
    elif unit.startswith("of "):
        text = "%g/%s" % (m, unit[3:])
    elif unit == "/s":
        text = "%.2f/s" % m
    else:
        text = "%g %s" % (m, unit)
    if s.get("n", 0) > 1 and unit == "s":
        text += " (n=%d)" % s["n"]
    if "docker_calls" in s:
        text += ", %g calls" % s["docker_calls"]
    return text


FIGURE_NAMES = {
    "own_cost": "a call, docker being /bin/true (own cost: the difference)",
    "time": "time",
    "peak_rss": "peak RSS",
    "docker_calls": "docker invocations",
    "successes": "successes",
    "delay": "detection delay",
    "polls_per_second": "docker execs per second while waiting",
}


def render(data, root):
    L = []
    w = L.append
    h = data["host"]
    w("# Benchmarks\n")
    w("Generated by `scripts/bench%s` on %s (%s run, %.0f s). Do not edit by hand: run the script again.\n"
      % (" --quick" if data["mode"] == "quick" else "", data["started"], data["mode"], data["duration_s"]))
    w("Host: %s CPUs, Linux %s, Docker %s (client %s), %s, Python %s, %s. Load average at the start %s, at the end %s."
      % (h["cpus"], h["kernel"], h["docker_server"], h["docker_client"], h["go"], h["python"], h["hyperfine"],
         " / ".join(map(str, h["load_start"])), " / ".join(map(str, h["load_end"]))))
    w("")
    w("Every figure is a median. Every ratio divides two medians measured in the same run, in alternating "
      "rounds, so that the machine's load falls on both sides: on a busy machine the absolute times move, "
      "the ratios much less. Raw `docker` is the floor that no wrapper around the docker CLI can beat. "
      "%s" % ("The Python original (`%s`, given with `--original`) is driven by `scripts/bench.d/original.py`, "
             "which calls its methods as a caller does and times them in-process." % data["original"]
             if data["original"] else
             "The Python original was not given (`scripts/bench --original PATH`): its columns and the targets "
             "measured against it say n/a."))
    w("")

    w("## Targets\n")
    w("| Target | Measured | Reached | Why, when missed |")
    w("| --- | --- | --- | --- |")
    for row in data["rows"]:
        for fig in row["figures"]:
            t = fig.get("target")
            if not t:
                continue
            v = t["value"]
            if "na" in t:
                w("| %s: %s | n/a (%s) | n/a | |" % (row["title"], t["text"], t["na"]))
                continue
            if v is None:
                shown = "–"
            elif "×" in t["text"]:
                shown = fmt_ratio(v)
            elif fig["unit"] == "s":
                shown = fmt_time(v)
            elif fig["unit"] == "MB":
                shown = "%.1f MB" % v
            elif fig["unit"] == "/s":
                shown = "%.2f/s" % v
            else:
                shown = "%g" % v
            w("| %s: %s | %s | %s | %s |" % (row["title"], t["text"], shown, "yes" if t["met"] else "**no**",
                                           "" if t["met"] else t.get("why", "")))
    w("")

    w("## Results\n")
    w("| Figure | dockerbridge | raw docker | Python original | dockerbridge / docker | dockerbridge / Python |")
    w("| --- | --- | --- | --- | --- | --- |")
    for row in data["rows"]:
        if row["id"] == "scale":
            continue
        for fig in row["figures"]:
            r = fig.get("ratios", {})
            w("| %s: %s | %s | %s | %s | %s | %s |" % (
                row["title"], FIGURE_NAMES.get(fig["name"], fig["name"]), cell(fig, "dockerbridge"), cell(fig, "docker"),
                cell(fig, "python"), fmt_ratio(r.get("dockerbridge/docker")), fmt_ratio(r.get("dockerbridge/python"))))
    w("")
    for row in data["rows"]:
        if row["id"] == "scale" or not row.get("notes"):
            continue
        w("- **%s.** %s" % (row["title"], " ".join(row["notes"])))
    w("")

    scale = [r for r in data["rows"] if r["id"] == "scale"]
    if scale:
        figs = {f["name"]: f for f in scale[0]["figures"]}
        w("## Scale\n")
        w(scale[0]["title"] + ".\n")
        w("| Running containers | exec: dockerbridge | exec: raw docker | ratio | reap all: dockerbridge | reap all: raw docker stop | ratio |")
        w("| --- | --- | --- | --- | --- | --- | --- |")
        for i in range(3):
            e, r = figs.get("exec_n%d" % i), figs.get("reap_n%d" % i)
            if not e or not r:
                continue
            w("| %d | %s | %s | %s | %s | %s | %s |" % (
                e["n"], cell(e, "dockerbridge"), cell(e, "docker"), fmt_ratio(e["ratios"].get("dockerbridge/docker")),
                cell(r, "dockerbridge"), cell(r, "docker"), fmt_ratio(r["ratios"].get("dockerbridge/docker"))))
        w("")
        w(" ".join(scale[0]["notes"]) + "\n")

    if data["go_benchmarks"]:
        w("## In-process parts (Go benchmarks, `go test -bench` in `bridge/`)\n")
        w("| Benchmark | ns/op | MB/s | B/op | allocs/op |")
        w("| --- | --- | --- | --- | --- |")
        for b in data["go_benchmarks"]:
            def g(k, f="%.0f"):
                return f % b[k] if k in b else "–"
            w("| %s | %s | %s | %s | %s |" % (b["name"], g("ns/op"), g("MB/s", "%.1f"), g("B/op"), g("allocs/op")))
        w("")

    w("## How each figure is measured\n")
    w("- Whole commands: `hyperfine --export-json`, `-N` (no shell) except where a redirection needs one; "
      "hyperfine then subtracts the shell's own start. Raw times are in BENCHMARKS.json.")
    w("- Peak memory: `/usr/bin/time -v`, maximum resident set size.")
    w("- Docker invocations: a wrapper `docker` that logs its argv and execs the real one "
      "(`--docker WRAPPER` for dockerbridge, first on PATH for Python).")
    w("- Containers are named `luzia-bench-<pid>-*`, use a state directory of their own, and are all removed at "
      "the end, on error and on Ctrl-C. Python's reap is narrowed to them by rewriting only its `name=luzia-` "
      "filter, so that it never stops a container the benchmark did not start.")
    w("")
    notes = os.path.join(HERE, "findings.md")
    if os.path.exists(notes):
        with open(notes) as f:
            w(f.read().rstrip() + "\n")
    return "\n".join(L)


def render_only(out, root):
    """Write BENCHMARKS.md again from BENCHMARKS.json, with the findings as
    they are now: for a change of wording, not of figures."""
    with open(os.path.join(out, "BENCHMARKS.json")) as f:
        data = json.load(f)
    with open(os.path.join(out, "BENCHMARKS.md"), "w") as f:
        f.write(render(data, root))
    return 0


def main():
    if sys.argv[1:2] == ["--render"]:
        return render_only(sys.argv[2], sys.argv[3])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--root", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--bin-cgo", help="the same built by a plain go build, linked against the C library")
    ap.add_argument("--empty-go", help="an empty Go program, built as --bin is")
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--run-id", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--python-reap-own", type=int, help="containers for Python's reap of its own containers")
    ap.add_argument("--original", help="the Python original's docker_bridge.py, to measure against")
    a = ap.parse_args()

    interrupted = []

    def stop(signum, _frame):
        interrupted.append(signum)
        raise KeyboardInterrupt("signal %d" % signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        b = Bench(a)
    except BenchError as e:
        print("bench: %s" % e, file=sys.stderr)
        return 2
    if a.python_reap_own:
        b.cfg = dict(b.cfg, py_own_n=a.python_reap_own)
    if not b.original:
        b.say("no Python original given (--original PATH or DOCKERBRIDGE_ORIGINAL): its columns say n/a")
    errors = []
    try:
        b.overhead()
        b.warm()
        b.tmux()
        b.io()
        b.cold()
        b.concurrent()
        pool = b.pool(max(max(b.cfg["scale"]), b.cfg["reap_n"]))
        b.scale(pool)
        b.reap(pool)
        b.fleet(pool)
        b.egress()
        b.cleanup()
        b.go_benchmarks()
    except KeyboardInterrupt:
        b.say("interrupted: cleaning up")
        b.cleanup()
        return 130
    except (BenchError, subprocess.SubprocessError, OSError) as e:
        errors.append(str(e))
        b.say("error: %s" % e)
    finally:
        b.cleanup()
    if interrupted:
        b.say("interrupted: nothing written")
        return 130
    if errors:
        # A partial run must not replace the last complete one.
        b.say("failed: %s left as it was" % os.path.join(a.out, "BENCHMARKS.md"))
        return 1
    b.write(errors)
    b.say("wrote %s" % os.path.join(a.out, "BENCHMARKS.md"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
