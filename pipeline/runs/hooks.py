"""A user's hook (ON_VIOLATION, ON_APPROVE): a shell command run on the host, or a URL on this
machine that receives the event as a POST.

The event (an EventBridge-shaped JSON object, built by the caller) is written whole to a file
first; a command gets that file's path in HOOK_EVENT and the caller's facts as environment
variables, a URL gets the same JSON as the request body. What happened comes back as an Outcome
whose text names the hook and what went wrong (exit code, HTTP status, nothing listening), so
the caller can report it and keep what it has already recorded. Standard library only.
"""

import json
import os
import signal
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from pipeline.runs import files

EVENT_ENV = "HOOK_EVENT"
# Only this machine: a hook is for local automation, not for shipping events elsewhere.
LOOPBACK = ("127.0.0.1", "localhost", "::1")
URL_TIMEOUT_SECONDS = 30


class HookError(ValueError):
    """A hook that cannot be run as given (a URL off this machine, an empty command)."""


@dataclass(frozen=True)
class Outcome:
    ok: bool
    text: str  # one line for the user: what ran and how it ended
    code: int = 0  # the command's exit code, or the HTTP status (0: no answer)

    def as_record(self) -> dict:
        return {"ok": self.ok, "result": self.text, "code": self.code}


def is_url(hook: str) -> bool:
    return hook.strip().lower().startswith(("http://", "https://"))


def check(variable: str, hook: str) -> str:
    """The hook as it will run, or HookError naming the variable and what is wrong."""
    hook = hook.strip()
    if not hook:
        raise HookError(f"{variable} is empty: give a shell command or an http(s):// URL")
    if is_url(hook):
        parts = urllib.parse.urlsplit(hook)
        if parts.hostname not in LOOPBACK:
            raise HookError(f"{variable}={hook}: a hook URL must be on this machine "
                            f"(127.0.0.1 or localhost), not {parts.hostname or 'no host'}")
    return hook


def fire(variable: str, hook: str, event: dict, facts: dict, event_file: Path) -> Outcome:
    """Run `hook` (checked) with `event`, written to `event_file`, and `facts` (str -> str)."""
    hook = check(variable, hook)
    files.write_json(event_file, event)
    if is_url(hook):
        return post(variable, hook, event)
    env = {**os.environ, **{key: str(value) for key, value in facts.items()},
           EVENT_ENV: str(event_file)}
    try:
        code = subprocess.run(hook, shell=True, env=env).returncode
    except OSError as error:  # no shell to run it with
        return Outcome(False, f"{variable} command could not start: {error}", 127)
    if code < 0:  # killed by a signal: the code a shell would report, and the signal's name
        name = signal.Signals(-code).name
        return Outcome(False, f"{variable} command {hook!r} exited with code {128 - code} "
                       f"(killed by {name})", 128 - code)
    if code:
        return Outcome(False, f"{variable} command {hook!r} exited with code {code}", code)
    return Outcome(True, f"{variable} command {hook!r} exited with code 0")


def post(variable: str, url: str, event: dict) -> Outcome:
    request = urllib.request.Request(url, data=json.dumps(event).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=URL_TIMEOUT_SECONDS) as answer:
            return Outcome(True, f"{variable} POST {url} answered {answer.status}", answer.status)
    except urllib.error.HTTPError as error:
        body = error.read(200).decode(errors="replace").strip()
        return Outcome(False, f"{variable} POST {url} answered {error.code}"
                       + (f": {body}" if body else ""), error.code)
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        return Outcome(False, f"{variable} POST {url}: no answer ({reason})", 0)
