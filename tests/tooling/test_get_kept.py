"""Issue 22, item 2: what ``onetime get`` says and leaves when it is stopped before the
file comes, and when another ``get`` is still writing the download it would take up."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from tools import ROOT
from tools.ports import HOST

LINK_ID = "abcdefghijklmnop"
TOKEN = LINK_ID + "S" * 43  # an id, then the secret
TIMEOUT = 60.0


def onetime_get(*args: str) -> subprocess.Popen[str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("ONETIME_") and "proxy" not in name.lower()
    }
    return subprocess.Popen(
        [sys.executable, "-m", "onetime_cli", "get", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_ctrl_c_before_the_answer_keeps_nothing_and_says_the_use_may_be_spent(
    tmp_path: Path,
) -> None:
    with socket.create_server((HOST, 0)) as listener:
        listener.settimeout(TIMEOUT)
        url = f"http://{HOST}:{listener.getsockname()[1]}/download?token={TOKEN}"
        process = onetime_get(url, "-o", str(tmp_path))
        try:
            connection, _ = listener.accept()
            with connection:
                connection.settimeout(TIMEOUT)
                request = b""
                while f"token={TOKEN}".encode() not in request:  # the POST is all sent
                    chunk = connection.recv(65536)
                    assert chunk, request
                    request += chunk
                process.send_signal(signal.SIGINT)  # while the server has not answered
                out, err = process.communicate(timeout=TIMEOUT)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert process.returncode == 130, err
    assert out == ""
    assert err == (
        "error: interrupted before the file began to arrive, with no download session to "
        "finish it: nothing was kept. The link's use may be spent: try `onetime get` again, "
        "or ask the sender for a new link.\n"
    )
    assert list(tmp_path.iterdir()) == []
    assert TOKEN not in err


def test_get_leaves_a_download_another_get_is_writing_alone(tmp_path: Path) -> None:
    temp = tmp_path / f".onetime-{LINK_ID}-x.part"
    temp.write_bytes(b"kept bytes")
    kept = tmp_path / f"{temp.name}.session"
    kept.write_text(json.dumps({"session": "0123456789abcdef." + "s" * 43, "length": 99}))
    kept.chmod(0o600)
    with socket.create_server((HOST, 0)) as listener:  # anything sent would be seen here
        listener.settimeout(0)
        url = f"http://{HOST}:{listener.getsockname()[1]}/download?token={TOKEN}"
        with temp.open("ab") as writing:
            fcntl.flock(writing.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # the other get
            process = onetime_get(url, "-o", str(tmp_path))
            out, err = process.communicate(timeout=TIMEOUT)
        try:
            listener.accept()
            raise AssertionError(f"get sent a request: {err}")
        except BlockingIOError:
            pass
    assert process.returncode == 2, err
    assert out == ""
    assert err == (
        f"error: another `onetime get` is downloading this link into {tmp_path} right now "
        f"({temp}): let it finish, or give another --output. Nothing was sent to the server, "
        "so this spent no use.\n"
    )
    assert temp.read_bytes() == b"kept bytes"
    assert kept.exists()
