"""Running a script under torchrun with 2 ranks on gloo, loopback only, as the distributed tests do."""

import socket
import subprocess
import sys


def free_port() -> int:
    """A port on 127.0.0.1 nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def torchrun(script, *args, timeout: int) -> None:
    """`torchrun --nproc_per_node=2 script args...`; fails the test with the ranks' output unless it
    exits 0 within `timeout` seconds (a rank waiting on another is a hang: the timeout fails it)."""
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr", "127.0.0.1",
         "--master_port", str(free_port()), str(script), *map(str, args)],
        capture_output=True, text=True, timeout=timeout,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
