#!/usr/bin/env python3
"""
docker_bridge - the public API of the original DockerBridge module, backed by
the dockerbridge command.

An existing caller switches by changing where it imports from:

    from docker_bridge import DockerBridge, cleanup_idle_containers, list_project_containers

Every method runs the dockerbridge binary with --json and returns exactly the
dict the original returned: its keys, with their meaning, and no other, so
that a caller comparing a result with a literal dict keeps working. The keys
the binary adds (truncated, timed_out, exists, name, ...) come with
extras=True, which every such method and function takes. The binary is
$DOCKERBRIDGE_BIN, else `dockerbridge` on PATH.

DockerTmuxController drives interactive programs (coding agents, REPLs,
shells) in the project's container through `dockerbridge tmux`, with the
method names of the original controller: send_keys(delay_enter=...),
capture_pane, wait_for_prompt, wait_for_idle, wait_for_shell_prompt.

No caller text ever reaches a shell: arguments go to the binary as argv
elements, and text (file content, keys to type) goes on stdin.
"""

import json
import logging
import os
import shutil
import subprocess
from typing import Any, Dict, List, Optional, Union

logger = logging.getLogger("luzia-docker")

IDLE_TIMEOUT_MINUTES = 10
DEFAULT_IMAGE = "luzia-sandbox:latest"

# Extra seconds the Python side waits beyond a command's own timeout: the
# binary enforces the timeout (and kills the command in the container); this
# only guards against a binary that hangs.
_GRACE_SECONDS = 60
# Bound for calls that have no timeout of their own (start, status, ...).
_CONTROL_SECONDS = 300
# From this many bytes a command goes to the binary on stdin rather than as
# an argument, well under Linux's 128 KiB limit on one argument.
_ARG_COMMAND = 32 << 10


# The keys of the original's dicts, per method and outcome.
_KEYS = {
    "execute": ("success", "output", "error", "exit_code"),
    "write_file": ("success", "message", "bytes_written"),
    "write_file failed": ("success", "message"),
    "read_file": ("success", "content"),
    "read_file failed": ("success", "error"),
    "list_files": ("success", "files"),
    "list_files failed": ("success", "error"),
    "grep": ("success", "matches", "truncated"),
    "status": ("running", "container_id", "started_at", "user", "image", "last_activity"),
    "status stopped": ("running",),
    "status failed": ("running", "error"),
    "list_project_containers": ("name", "status", "created"),
}


def _original(data: Dict[str, Any], shape: str, extras: bool) -> Dict[str, Any]:
    """data with the original's keys for shape only, unless extras."""
    if extras:
        return data
    return {k: data[k] for k in _KEYS[shape] if k in data}


def _failed(result: Dict[str, Any], data: Any, extras: bool) -> Dict[str, Any]:
    """A file method's failure dict; with extras, also the error's kind
    (not_found, permission, is_directory, outside, too_large, ...)."""
    if extras and isinstance(data, dict) and data.get("kind"):
        result["kind"] = data["kind"]
    return result


class BridgeError(RuntimeError):
    """The dockerbridge binary could not be run or printed no JSON."""


def _binary() -> str:
    path = os.environ.get("DOCKERBRIDGE_BIN") or shutil.which("dockerbridge")
    if not path:
        raise BridgeError("dockerbridge not found: install it on PATH or set DOCKERBRIDGE_BIN")
    return path


def _seconds(value: float) -> str:
    """A duration flag value: whole seconds stay whole ("300s")."""
    value = float(value)
    if value.is_integer():
        return f"{int(value)}s"
    return f"{value:g}s"


def _call(args: List[str], stdin: Optional[bytes] = None, timeout: float = _CONTROL_SECONDS):
    """Runs dockerbridge --json ARGS and returns (exit code, parsed JSON or None, stderr)."""
    argv = [_binary(), "--json"] + args
    try:
        proc = subprocess.run(
            argv,
            input=stdin if stdin is not None else b"",
            capture_output=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as e:
        raise BridgeError(f"dockerbridge {' '.join(args[:1])} did not answer within {timeout:g}s") from e
    except OSError as e:
        raise BridgeError(f"cannot run {argv[0]}: {e}") from e
    stderr = proc.stderr.decode("utf-8", "replace")
    out = proc.stdout.decode("utf-8", "replace").strip()
    data = None
    # One JSON document; should anything precede it, the last line is the one.
    for doc in (out, out.rsplit("\n", 1)[-1]):
        try:
            data = json.loads(doc)
            break
        except ValueError:
            continue
    return proc.returncode, data, stderr


def _error_text(data: Any, stderr: str) -> str:
    if isinstance(data, dict) and data.get("error"):
        return str(data["error"])
    lines = [l for l in stderr.splitlines() if l.strip() and "warning:" not in l]
    text = lines[-1] if lines else stderr.strip()
    return text.replace("dockerbridge: ", "", 1)


class DockerBridge:
    """
    A project's lazily started container, with the original constructor and
    methods. Nothing runs until a method is called.
    """

    def __init__(
        self,
        project: str,
        host_path: str,
        image: str = DEFAULT_IMAGE,
        timeout_seconds: int = 300,
        extra_mounts: list = None,
    ):
        self.project = project
        self.host_path = host_path
        self.container_name = f"luzia-{project}"
        self.image = image
        self.timeout_seconds = timeout_seconds
        self.extra_mounts = list(extra_mounts or [])

    # The flags every call of this bridge takes.
    def _globals(self, timeout: Optional[float] = None) -> List[str]:
        args = ["--project", self.project, "--image", self.image,
                "--timeout", _seconds(timeout or self.timeout_seconds)]
        if self.host_path:
            args += ["--path", str(self.host_path)]
        for m in self.extra_mounts:
            args += ["--mount", str(m)]
        return args

    def _run(self, args: List[str], stdin: Optional[bytes] = None, timeout: Optional[float] = None):
        t = (timeout or self.timeout_seconds) + _GRACE_SECONDS
        return _call(self._globals(timeout) + args, stdin=stdin, timeout=t)

    def ensure_running(self) -> bool:
        """Start the container if it is not running. Returns True if it started it."""
        code, data, stderr = self._run(["start"], timeout=_CONTROL_SECONDS)
        if code != 0 or not isinstance(data, dict) or not data.get("success"):
            msg = _error_text(data, stderr)
            logger.error(f"Failed to start container: {msg}")
            raise RuntimeError(f"Failed to start container: {msg}")
        return bool(data.get("started"))

    def execute(self, command: str, timeout: Optional[int] = None, extras: bool = False, *,
                cwd: Optional[str] = None, env: Optional[Dict[str, str]] = None,
                user: Optional[str] = None) -> Dict[str, Any]:
        """
        Run a bash command inside the container.

        Returns dict with success, output, error, exit_code (-1 and
        "Command timed out after Ns" on a timeout); with extras=True also
        truncated and timed_out.

        Keywords the original did not have, for this call only: cwd, a
        directory relative to /workspace or absolute (a missing one is an
        error naming it); env, a dict of variables (over the container's);
        user, a name or uid[:gid] of the container (root, for instance)
        instead of the project user. A command of any length runs.
        """
        timeout = timeout or self.timeout_seconds
        args = ["exec"]
        if cwd is not None:
            args.append(f"--cwd={cwd}")
        for k, v in (env or {}).items():
            args.append(f"--set-env={k}={v}")
        if user is not None:
            args.append(f"--user={user}")
        stdin = None
        text = command.encode("utf-8", "surrogateescape")
        if len(text) >= _ARG_COMMAND or b"\0" in text:
            # Linux refuses one argument of 128 KiB or more: a long command
            # goes on stdin.
            args += ["--command-file", "-"]
            stdin = text
        else:
            args += ["--", command]
        code, data, stderr = self._run(args, stdin=stdin, timeout=timeout)
        if not (isinstance(data, dict) and "exit_code" in data):
            data = {"success": False, "output": "", "error": _error_text(data, stderr), "exit_code": code or -1}
        return _original(data, "execute", extras)

    def write_file(self, path: str, content: str, extras: bool = False) -> Dict[str, Any]:
        """
        Write a file in the container, atomically, as the project user.

        Args:
            path: Relative path from /workspace (project home)
            content: File content to write
        """
        code, data, stderr = self._run(["write", "--", path], stdin=content.encode("utf-8"))
        if code == 0 and isinstance(data, dict) and data.get("success"):
            return _original(data, "write_file", extras)
        return _failed({"success": False, "message": f"Failed to write file: {_error_text(data, stderr)}"}, data, extras)

    def read_file(self, path: str, extras: bool = False) -> Dict[str, Any]:
        """Read a file from the container."""
        code, data, stderr = self._run(["read", "--", path])
        if code == 0 and isinstance(data, dict) and data.get("success"):
            return _original(data, "read_file", extras)
        return _failed({"success": False, "error": _error_text(data, stderr) or "File not found or not readable"}, data, extras)

    def list_files(self, path: str = ".", pattern: str = "*", extras: bool = False) -> Dict[str, Any]:
        """List files under path whose names match pattern (first 100); truncated with extras=True."""
        code, data, stderr = self._run(["ls", "--pattern", pattern, "--", path])
        if code == 0 and isinstance(data, dict) and data.get("success"):
            return _original(data, "list_files", extras)
        return _failed({"success": False, "error": _error_text(data, stderr)}, data, extras)

    def grep(self, pattern: str, path: str = ".", extras: bool = False) -> Dict[str, Any]:
        """
        Search for pattern in files (grep -rn, first 50 matches); count with
        extras=True. The original had no failure dict: a failure is
        success False with no matches, its reason in the log (and under
        "error" with extras=True).
        """
        code, data, stderr = self._run(["grep", "--", pattern, path])
        if code == 0 and isinstance(data, dict) and data.get("success"):
            return _original(data, "grep", extras)
        error = _error_text(data, stderr)
        logger.warning(f"grep {pattern!r} in {path}: {error}")
        return _original({"success": False, "matches": "", "truncated": False, "error": error}, "grep", extras)

    def stop(self):
        """Stop the container."""
        logger.info(f"Stopping container {self.container_name}")
        self._run(["stop"], timeout=_CONTROL_SECONDS)

    def remove(self):
        """Stop and remove the container."""
        logger.info(f"Removing container {self.container_name}")
        self._run(["rm"], timeout=_CONTROL_SECONDS)

    def status(self, extras: bool = False) -> Dict[str, Any]:
        """
        Get container status: {"running": False} when it does not run, else
        running, container_id, started_at, user, image and last_activity;
        with extras=True also exists, name and what the binary adds.
        """
        code, data, stderr = self._run(["status"], timeout=_CONTROL_SECONDS)
        if not (code == 0 and isinstance(data, dict) and "running" in data):
            return {"running": False, "error": _error_text(data, stderr)}
        return _original(data, "status" if data["running"] else "status stopped", extras)

    # New in this module: the task workflow of the binary.

    def snapshot(self, message: str = "") -> Dict[str, Any]:
        """Record the workspace under refs/dockerbridge/snapshots/<n>; HEAD, index and files stay."""
        args = ["snapshot"] + (["-m", message] if message else [])
        return self._result(*self._run(args))

    def commit(self, message: str, trailers: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
        """add -A and commit as the project user: {committed, sha, files_changed, insertions, deletions}."""
        args = ["commit", "-m", message]
        for k, v in (trailers or {}).items():
            args += ["--trailer", f"{k}={v}"]
        return self._result(*self._run(args))

    # Background jobs: a job keeps running after the call returns, and its
    # output and exit status stay in the container.

    def start_job(self, name: str, command: str) -> Dict[str, Any]:
        """Start command (bash -c) in the background as job name: {success, job}."""
        return self._result(*self._run(["job", "start", name, "--", command], timeout=_CONTROL_SECONDS))

    def list_jobs(self) -> List[Dict[str, Any]]:
        """[{name, state, exit_code, pid, started, ended, command, log}]."""
        code, data, stderr = self._run(["job", "ls"], timeout=_CONTROL_SECONDS)
        if code != 0 or not isinstance(data, list):
            raise BridgeError(_error_text(data, stderr))
        return data

    def job_logs(self, name: str) -> str:
        """The job's output so far (stdout and stderr, interleaved)."""
        code, data, stderr = self._run(["job", "logs", name], timeout=_CONTROL_SECONDS)
        if code != 0 or not isinstance(data, dict):
            raise BridgeError(_error_text(data, stderr))
        return data.get("content", "")

    def wait_job(self, name: str, timeout: Optional[float] = None) -> Dict[str, Any]:
        """Wait until the job ends: {success, timed_out, job}; success means exit status 0."""
        code, data, stderr = self._run(["job", "wait", name], timeout=timeout)
        if isinstance(data, dict) and "job" in data:
            return data
        return {"success": False, "error": _error_text(data, stderr)}

    def kill_job(self, name: str) -> Dict[str, Any]:
        """Kill every process the job started: {success, job}."""
        return self._result(*self._run(["job", "kill", name], timeout=_CONTROL_SECONDS))

    @staticmethod
    def _result(code: int, data: Any, stderr: str) -> Dict[str, Any]:
        if code == 0 and isinstance(data, dict):
            return data
        return {"success": False, "error": _error_text(data, stderr)}


def cleanup_idle_containers(timeout_minutes: int = IDLE_TIMEOUT_MINUTES, extras: bool = False):
    """Stop containers that have been idle for too long.

    Activity is shared across processes, so this is safe to run from cron.
    Returns None, as the original did; with extras=True, the reaper's
    report ({checked, stopped, busy, active}), or None when it failed.
    """
    code, data, stderr = _call(["reap", "--idle", f"{int(timeout_minutes)}m"])
    if code != 0:
        logger.warning(f"cleanup_idle_containers: {_error_text(data, stderr)}")
        return None
    for name in (data or {}).get("stopped", []):
        logger.info(f"Stopping idle container: {name}")
    return data if extras else None


def list_project_containers(extras: bool = False) -> list:
    """List all luzia project containers: [{name, status, created}] (and project with extras=True).

    Across several engines (DOCKERBRIDGE_ENGINES), it lists what the engines
    that answered have; with extras=True each row also names its engine.
    """
    code, data, _ = _call(["ps"])
    if not isinstance(data, list):
        return []
    # An engine that did not answer is a row {engine, error}: logged, not listed.
    for row in data:
        if isinstance(row, dict) and "error" in row:
            logger.warning(f"list_project_containers: engine {row.get('engine')}: {row['error']}")
    return [_original(row, "list_project_containers", extras) for row in data
            if isinstance(row, dict) and "error" not in row]


class DockerTmuxController:
    """
    Drives an interactive program through tmux inside a project's container.

    DockerTmuxController(bridge_or_project, session_name="agent", host_path=None)

    The first argument is a DockerBridge (its project, path, image and
    mounts are used) or a project name. Methods take an optional pane_id,
    a tmux pane id ("%3") or another session's name; without it they act on
    session_name.
    """

    def __init__(self, bridge: Union[DockerBridge, str], session_name: str = "agent",
                 host_path: Optional[str] = None, socket: Optional[str] = None):
        if isinstance(bridge, DockerBridge):
            self.bridge = bridge
        else:
            self.bridge = DockerBridge(bridge, host_path)
        self.session_name = session_name
        self.socket = socket
        self.target_pane = None

    def _tmux(self, args: List[str], stdin: Optional[bytes] = None, timeout: Optional[float] = None):
        tmux = ["tmux"] + (["--socket", self.socket] if self.socket else [])
        g = self.bridge._globals()
        if timeout is not None:
            g = g[:g.index("--timeout")] + ["--timeout", _seconds(timeout)] + g[g.index("--timeout") + 2:]
        limit = (timeout or 30) + _GRACE_SECONDS
        return _call(g + tmux + args, stdin=stdin, timeout=limit)

    def _target(self, pane_id: Optional[str]) -> str:
        return pane_id or self.target_pane or self.session_name

    def _check(self, what: str, code: int, data: Any, stderr: str) -> Any:
        if code != 0:
            raise BridgeError(f"{what}: {_error_text(data, stderr)}")
        return data

    def create_session(self, command: Optional[str] = None, width: int = 200, height: int = 50) -> str:
        """Start session_name running command (default: a shell); returns its pane id."""
        args = ["new", "--size", f"{width}x{height}"]
        if command:
            args += ["--cmd", command]
        data = self._check("create_session", *self._tmux(args + ["--", self.session_name]))
        self.target_pane = data["pane_id"]
        return self.target_pane

    def launch_cli(self, command: str) -> str:
        """Start command in session_name; returns its pane id."""
        return self.create_session(command)

    def send_keys(self, text: str, pane_id: Optional[str] = None, enter: bool = True,
                  delay_enter: Union[bool, float] = True, verify_enter: bool = False):
        """
        Type text into the pane as it is (a key name is typed as text), then
        press Enter unless enter is False. delay_enter True waits 1.0s
        between the text and Enter, a number that many seconds, False none.
        Text of any size arrives whole.
        """
        delay = 1.0 if delay_enter is True else float(delay_enter or 0)
        args = ["send", "--from", "-", "--delay-enter", _seconds(delay)]
        if not enter:
            args.append("--no-enter")
        if verify_enter:
            args.append("--verify-enter")
        self._check("send_keys", *self._tmux(args + ["--", self._target(pane_id)], stdin=text.encode("utf-8")))

    def send_special_keys(self, *keys: str, pane_id: Optional[str] = None):
        """Send named keys: "C-c", "Escape", "Up", "Tab", "Enter", ..."""
        self._check("send_special_keys", *self._tmux(["keys", "--", self._target(pane_id)] + list(keys)))

    def send_interrupt(self, pane_id: Optional[str] = None):
        """Send Ctrl+C."""
        self._check("send_interrupt", *self._tmux(["interrupt", "--", self._target(pane_id)]))

    def send_escape(self, pane_id: Optional[str] = None):
        """Send Escape."""
        self.send_special_keys("Escape", pane_id=pane_id)

    def capture_pane(self, pane_id: Optional[str] = None, lines: Optional[int] = None) -> str:
        """The pane's screen, or its last `lines` lines with history."""
        args = ["capture"]
        if lines:
            args += ["--lines", str(int(lines))]
        data = self._check("capture_pane", *self._tmux(args + ["--", self._target(pane_id)]))
        return data["content"]

    def _wait(self, verb: str, key: str, args: List[str], timeout: float) -> bool:
        code, data, stderr = self._tmux([verb] + args, timeout=timeout)
        if isinstance(data, dict) and key in data:
            return bool(data[key])
        raise BridgeError(f"{verb}: {_error_text(data, stderr)}")

    def wait_for_prompt(self, prompt_pattern: str, pane_id: Optional[str] = None,
                        timeout: int = 10, check_interval: float = 0.5) -> bool:
        """True once the regular expression matches the screen, False on timeout."""
        args = ["--interval", _seconds(check_interval), "--", self._target(pane_id), prompt_pattern]
        return self._wait("wait-prompt", "matched", args, timeout)

    def wait_for_idle(self, pane_id: Optional[str] = None, idle_time: float = 2.0,
                      check_interval: float = 0.5, timeout: Optional[int] = None) -> bool:
        """True once the screen has not changed for idle_time seconds, False on timeout."""
        args = ["--idle", _seconds(idle_time), "--interval", _seconds(check_interval), "--", self._target(pane_id)]
        # The original waited forever without a timeout; a day stands in for that.
        return self._wait("wait-idle", "idle", args, timeout or 86400)

    def wait_for_shell_prompt(self, pane_id: Optional[str] = None, timeout: int = 30,
                              check_interval: float = 0.5, prompt_pattern: Optional[str] = None) -> bool:
        """True once the pane's shell sits at its prompt, False on timeout."""
        args = ["--interval", _seconds(check_interval)]
        if prompt_pattern:
            args += ["--prompt", prompt_pattern]
        return self._wait("wait-shell", "completed", args + ["--", self._target(pane_id)], timeout)

    def run_command(self, command: str, pane_id: Optional[str] = None, timeout: int = 300) -> Dict[str, Any]:
        """Run a shell command in the pane's shell: {output, exit_code, status, ...}."""
        code, data, stderr = self._tmux(["run", "--from", "-", "--", self._target(pane_id)],
                                        stdin=command.encode("utf-8"), timeout=timeout)
        if isinstance(data, dict) and "exit_code" in data:
            return data
        raise BridgeError(f"run_command: {_error_text(data, stderr)}")

    def list_sessions(self) -> List[Dict[str, Any]]:
        """The tmux panes of the container: [{name, pane_id, pid, dead, exit_status, ...}]."""
        data = self._check("list_sessions", *self._tmux(["ls"]))
        return data or []

    def kill_session(self, pane_id: Optional[str] = None):
        """Kill the session."""
        target = self._target(pane_id)
        self._check("kill_session", *self._tmux(["kill", "--", target]))
        if target == self.target_pane:
            self.target_pane = None

    kill_pane = kill_session
